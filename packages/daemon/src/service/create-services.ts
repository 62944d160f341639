import type { DoctorReport } from "@strata/api";
import type { Store } from "../db/store.ts";
import { InFlight } from "../lib/in-flight.ts";
import { KeyedLock } from "../lib/keyed-lock.ts";
import type { Logger } from "../lib/logger.ts";
import type { SandboxLauncher } from "../runtime/launcher.ts";
import type { StorageDriver } from "../storage/driver.ts";
import { AuthService } from "./auth.ts";
import { EventLog } from "./events.ts";
import { type ImageBuilder, ImageService } from "./images.ts";
import { OrgService } from "./org.ts";
import { Quiesce } from "./quiesce.ts";
import { Reaper } from "./reaper.ts";
import { type ReconcileReport, reconcile } from "./reconcile.ts";
import { SandboxBoot } from "./sandbox-boot.ts";
import { SandboxIo } from "./sandbox-io.ts";
import { LiveSandboxes } from "./sandbox-registry.ts";
import { SandboxRoots } from "./sandbox-roots.ts";
import { SandboxSnapshotService } from "./sandbox-snapshots.ts";
import { SandboxTeardown } from "./sandbox-teardown.ts";
import { type SandboxLimits, SandboxService } from "./sandboxes.ts";
import type { Services } from "./services.ts";
import { SnapshotDiffService } from "./snapshot-diff.ts";
import { SnapshotFiles } from "./snapshot-files.ts";
import { SnapshotScheduler } from "./snapshot-scheduler.ts";
import { SnapshotWriter } from "./snapshot-writer.ts";
import { SnapshotService } from "./snapshots.ts";
import type { CapacityLimits } from "./validate.ts";
import { VolumeService } from "./volumes.ts";

/** What the services are built from: the state, the drivers, and the daemon's settings. */
export interface ServiceDeps {
  store: Store;
  driver: StorageDriver;
  launcher: SandboxLauncher;
  imageBuilder: ImageBuilder;
  log: Logger;
  /** The region this daemon serves. */
  region: string;
  /** Bounds of volume capacities (and persistent sandbox disks). */
  capacity: CapacityLimits;
  sandboxLimits: Omit<SandboxLimits, "disk">;
  /** How long a deleted volume's data is kept before it is purged. */
  purgeGraceMs: number;
  purgeIntervalMs: number;
  /** Snapshot retention of organisations that set none ("30d", … or "never"). */
  snapshotRetention: string;
  reaperIntervalMs: number;
  /** The public URL of a sandbox's exposed port. */
  portUrl: (sandboxId: string, port: number) => string;
  /** The live sandboxes, when something outside the services (the port proxy) reads them too. */
  live?: LiveSandboxes;
  doctor?: () => Promise<DoctorReport>;
}

/** The services, plus how they start and stop. */
export interface ServiceSet extends Services {
  readonly live: LiveSandboxes;
  /**
   * Brings the store and the host into agreement after a restart (sandboxes that were
   * live are torn down, then `reconcile()`), then starts the background work: the
   * reaper and the purge of deleted volumes.
   */
  start(): Promise<{ endedSandboxes: string[]; report: ReconcileReport }>;
  /**
   * Stops in order: background work, then snapshot schedules and copies in flight, then
   * every sandbox, then image builds and the volume creations waiting for them.
   */
  close(): Promise<void>;
}

/**
 * Builds every service of the daemon, each from dependencies that point down (the
 * composition root and the tests both use this).
 */
export function createServices(deps: ServiceDeps): ServiceSet {
  const { store, driver, launcher, log } = deps;
  const locks = new KeyedLock();
  const snapshotCopies = new InFlight();
  const live = deps.live ?? new LiveSandboxes(store.sandboxes);
  const events = new EventLog(store.events, log);
  const orgs = new OrgService(store.orgs, deps.snapshotRetention);
  const images = new ImageService({ repo: store.images, driver, builder: deps.imageBuilder, log });
  const volumes = new VolumeService({
    store,
    driver,
    images,
    locks,
    log,
    regions: [deps.region],
    capacity: deps.capacity,
    purgeGraceMs: deps.purgeGraceMs,
  });
  const quiesce = new Quiesce({ store, live, launcher, driver, locks, log });
  const writer = new SnapshotWriter({ store, driver, orgs });
  const snapshots = new SnapshotService({
    store,
    writer,
    driver,
    quiesce,
    locks,
    events,
    log,
    snapshotCopies,
  });
  const sandboxSnapshots = new SandboxSnapshotService({
    store,
    writer,
    snapshots,
    quiesce,
    driver,
    events,
    log,
  });
  const scheduler = new SnapshotScheduler((id) => sandboxSnapshots.tick(id));
  const hooks = {
    ready: (s: { id: string; schedule: { frequency: string } | null }) => {
      if (s.schedule) scheduler.start(s.id, s.schedule.frequency);
    },
    ended: (s: { id: string }) => scheduler.stop(s.id),
  };
  const teardown = new SandboxTeardown({
    store,
    live,
    launcher,
    driver,
    locks,
    events,
    log,
    hooks,
  });
  const boot = new SandboxBoot({
    store,
    live,
    teardown,
    driver,
    images,
    launcher,
    hooks,
    snapshotCopies,
    rootCapacityBytes: deps.sandboxLimits.rootCapacityBytes,
  });
  const sandboxes = new SandboxService({
    store,
    live,
    roots: new SandboxRoots(store),
    boot,
    teardown,
    driver,
    launcher,
    locks,
    events,
    log,
    region: deps.region,
    limits: { ...deps.sandboxLimits, disk: deps.capacity },
    portUrl: deps.portUrl,
  });

  const background = new AbortController();
  let reaper: Reaper | undefined;
  let purgeTimer: NodeJS.Timeout | undefined;
  const purge = async () => {
    try {
      await volumes.purgeDue();
    } catch (err) {
      log.error({ err }, "Purging deleted volumes failed");
    }
  };

  return {
    auth: new AuthService(store.orgs),
    volumes,
    snapshots,
    images,
    sandboxes,
    sandboxSnapshots,
    orgs,
    events,
    io: new SandboxIo({ store, live }),
    snapshotFiles: new SnapshotFiles({ store, driver }),
    snapshotDiff: new SnapshotDiffService({ store, driver, locks, log, quiesce }),
    doctor: deps.doctor ?? (async () => ({ ok: true, checks: [] })),
    live,
    async start() {
      const endedSandboxes = await teardown.reconcile();
      const report = await reconcile({ store, driver, volumes, log });
      if (background.signal.aborted) return { endedSandboxes, report };
      reaper = new Reaper({ snapshots, events, log }, deps.reaperIntervalMs);
      await purge();
      purgeTimer = setInterval(purge, deps.purgeIntervalMs);
      purgeTimer.unref();
      return { endedSandboxes, report };
    },
    async close() {
      background.abort();
      clearInterval(purgeTimer);
      await reaper?.close();
      scheduler.stopAll();
      await sandboxSnapshots.drain();
      await teardown.endAll();
      // Builds stop first, so that volumes waiting for them end at once (left creating,
      // resumed next start).
      await images.close();
      await volumes.drain();
    },
  };
}
