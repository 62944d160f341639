import type { DatabaseSync } from "node:sqlite";
import type {
  Sandbox,
  SandboxCreate,
  SandboxListQuery,
  SandboxRoot,
  SandboxUpdate,
} from "@strata/api";
import { transaction } from "../db/database.ts";
import type { Page } from "../db/page.ts";
import type { SandboxesRepo, SandboxRow } from "../db/sandboxes-repo.ts";
import type { SnapshotRow, SnapshotsRepo } from "../db/snapshots-repo.ts";
import type { VolumeRow, VolumesRepo } from "../db/volumes-repo.ts";
import { q, StrataError } from "../errors.ts";
import { run } from "../lib/exec.ts";
import { newId } from "../lib/ids.ts";
import type { InFlight } from "../lib/in-flight.ts";
import type { KeyedLock } from "../lib/keyed-lock.ts";
import type { Logger } from "../lib/logger.ts";
import type { SandboxHandle, SandboxLauncher } from "../runtime/launcher.ts";
import type { StorageDriver } from "../storage/driver.ts";
import type { EventLog } from "./events.ts";
import type { ImageService } from "./images.ts";
import {
  normaliseMounts,
  parseCpus,
  parseDiskGB,
  parseMemory,
  parseTimeout,
  type ResourceLimits,
  validateSchedule,
} from "./sandbox-input.ts";
import { sandboxView } from "./sandbox-view.ts";
import type { SnapshotScheduler } from "./snapshot-scheduler.ts";
import { storageStep } from "./storage-errors.ts";

export interface SandboxServiceDeps {
  db: DatabaseSync;
  sandboxes: SandboxesRepo;
  volumes: VolumesRepo;
  snapshots: SnapshotsRepo;
  driver: StorageDriver;
  images: ImageService;
  launcher: SandboxLauncher;
  locks: KeyedLock;
  log: Logger;
  events: EventLog;
  /** Restores in flight per snapshot id: a snapshot delete waits for them. */
  restores: InFlight;
  region: string;
  limits: ResourceLimits & {
    maxTimeoutMs: number;
    rootCapacityBytes: number;
    disk: { minBytes: number; maxBytes: number };
  };
  /** Builds the public URL of an exposed port. */
  portUrl: (sandboxId: string, port: number) => string;
}

/** Sandbox state describes processes a power loss ends anyway: its commits skip the fsync. */
const EPHEMERAL = { durable: false } as const;

type Root =
  | { kind: "volume"; volume: VolumeRow }
  | { kind: "snapshot"; id: string; slug: string; snapshot: SnapshotRow }
  | { kind: "image"; image: "builtin:debian-13" };

/** What a sandbox restored from a snapshot of a sandbox gets when it asks for nothing else. */
export interface SnapshotDefaults {
  memory: number;
  cpus: number;
}

type Mounted = { path: string; volume: VolumeRow }[];

/**
 * Sandboxes: create (answering once commands can run), list, get, extend, pause and resume,
 * stop and start (persistent ones), kill. Every sandbox that ends — killed, timed out, its
 * init gone, or the daemon stopping — is cleaned up completely: container, network,
 * ephemeral root, bundle, volume attachments. A persistent sandbox keeps its root layer
 * until it is deleted.
 *
 * States: `starting → ready ⇄ paused → stopping → stopped`, and for a persistent sandbox
 * `stopped → starting` again.
 */
export class SandboxService {
  readonly #d: SandboxServiceDeps;
  readonly #live = new Map<string, { handle: SandboxHandle; timer: NodeJS.Timeout | undefined }>();
  readonly #ending = new Map<string, Promise<void>>();
  readonly #sizes = new Map<string, number>();
  #scheduler: SnapshotScheduler | undefined;

  constructor(deps: SandboxServiceDeps) {
    this.#d = deps;
  }

  /** Automatic snapshots: jobs start when a sandbox with a schedule is ready and stop when it ends. */
  useScheduler(scheduler: SnapshotScheduler): void {
    this.#scheduler = scheduler;
  }

  async create(orgId: string, input: SandboxCreate): Promise<Sandbox> {
    const d = this.#d;
    const region = input.region ?? d.region;
    if (region !== d.region)
      throw new StrataError(
        "invalid_region",
        `Unknown region ${q(region)}: this daemon serves ${q(d.region)}`,
      );
    const mounts = normaliseMounts(input.volumes ?? {});
    const timeoutMs =
      input.timeout === undefined ? undefined : parseTimeout(input.timeout, d.limits.maxTimeoutMs);
    const schedule = validateSchedule(input);
    if (input.persistentDiskGB !== undefined && input.persistent !== true)
      throw new StrataError("invalid_disk_size", "persistentDiskGB needs persistent: true");
    const diskBytes = parseDiskGB(input.persistentDiskGB, d.limits.disk);
    const runtime = input.runtime ?? "crun";
    if (runtime !== "crun") {
      throw new StrataError(
        "runtime_unavailable",
        `Cannot use runtime ${q(runtime)}: gVisor (runsc) is not installed on this host`,
      );
    }
    d.launcher.validateAllowNet(input.allowNet);

    const root = this.#resolveRoot(orgId, input, region);
    if (input.persistent === true && root.kind === "volume")
      throw new StrataError(
        "invalid_root",
        `A sandbox booted from volume ${q(root.volume.slug)} already persists in it; persistent applies to snapshot and image roots`,
      );
    const inherited =
      root.kind === "snapshot" && root.snapshot.defaults !== null
        ? (JSON.parse(root.snapshot.defaults) as SnapshotDefaults)
        : undefined;
    const memory =
      input.memory === undefined && inherited
        ? inherited.memory
        : parseMemory(input.memory, d.limits.memory);
    const cpus =
      input.cpus === undefined && inherited ? inherited.cpus : parseCpus(input.cpus, d.limits.cpus);
    const mounted = mounts.map(([path, ref]) => ({
      path,
      volume: this.#resolveVolume(orgId, ref, region),
    }));
    const id = newId("sbx");
    const now = new Date();
    const row: SandboxRow = {
      id,
      org_id: orgId,
      region,
      status: "starting",
      stop_reason: null,
      root_kind: root.kind,
      root_ref:
        root.kind === "volume" ? root.volume.id : root.kind === "snapshot" ? root.id : root.image,
      root_slug:
        root.kind === "volume" ? root.volume.slug : root.kind === "snapshot" ? root.slug : null,
      root_layer: root.kind === "volume" ? root.volume.id : id,
      mounts: JSON.stringify(
        mounted.map((m) => ({ path: m.path, volumeId: m.volume.id, volumeSlug: m.volume.slug })),
      ),
      labels: JSON.stringify(input.labels ?? {}),
      env: JSON.stringify(input.env ?? {}),
      memory,
      cpus,
      runtime,
      port: input.port ?? null,
      allow_net: input.allowNet === undefined ? null : JSON.stringify(input.allowNet),
      address: null,
      created_at: now.toISOString(),
      stopped_at: null,
      expires_at:
        timeoutMs === undefined ? null : new Date(now.getTime() + timeoutMs).toISOString(),
      timeout_ms: timeoutMs ?? null,
      template: JSON.stringify(templateOf(root)),
      persistent: input.persistent === true ? 1 : 0,
      disk_bytes: null,
      retained: 0,
      snapshot_frequency: schedule.frequency,
      snapshot_keep: schedule.keep,
    };

    await using stack = new AsyncDisposableStack();
    const attachIds = [
      ...(root.kind === "volume" ? [root.volume.id] : []),
      ...mounted.map((m) => m.volume.id),
    ];
    if (new Set(attachIds).size !== attachIds.length) {
      throw new StrataError("volume_in_use", "Cannot use the same volume twice in one sandbox");
    }
    transaction(
      d.db,
      () => {
        const taken = d.volumes.attach(attachIds, id);
        if (taken)
          throw new StrataError(
            "volume_in_use",
            `Cannot attach volume ${q(taken.slug)}: ${taken.attached_to ? `it is already attached to sandbox ${taken.attached_to}` : "it is being restored from a snapshot"}`,
          );
        d.sandboxes.insert(row);
      },
      EPHEMERAL,
    );
    stack.defer(() => {
      transaction(
        d.db,
        () => {
          d.volumes.detachAll(id);
          d.sandboxes.remove(id);
        },
        EPHEMERAL,
      );
    });

    // The root is made while the launcher sets up the network: neither needs the other. A
    // copy of a snapshot is registered as a restore in this same tick, so that a delete of
    // the snapshot that found it waits for the copy.
    let rootReady: Promise<void> = Promise.resolve();
    if (root.kind !== "volume") {
      const fromLayer =
        root.kind === "snapshot" ? Promise.resolve(root.id) : d.images.ensure(root.image);
      const making = (async () => {
        const from = await fromLayer;
        const size = await this.#layerSize(from);
        const capacity = diskBytes ?? Math.max(d.limits.rootCapacityBytes, size + 1e9);
        if (row.persistent) {
          row.disk_bytes = capacity;
          d.sandboxes.setDisk(id, capacity);
        }
        await storageStep(`Cannot create the root of sandbox ${id}`, () =>
          d.driver.create(id, { from, capacityBytes: capacity }),
        );
      })();
      rootReady = root.kind === "snapshot" ? d.restores.track(root.id, making) : making;
      stack.defer(() => d.driver.remove(id));
    }
    await this.#boot(row, mounted, rootReady);
    if (row.persistent) d.sandboxes.setRetained(id, true);
    stack.move();
    d.log.info(
      { sandbox: id, root: row.root_kind, ms: Date.now() - now.getTime() },
      "Sandbox is ready",
    );
    return this.#view(row.id);
  }

  /**
   * Launches the container of a `starting` sandbox whose records are written, and makes it
   * ready: the handle, the timeout, the snapshot schedule, the watch on its init.
   */
  async #boot(row: SandboxRow, mounted: Mounted, rootReady: Promise<void>): Promise<void> {
    const d = this.#d;
    const id = row.id;
    const handle = await d.launcher.launch({
      id,
      rootPath: d.driver.path(row.root_layer),
      mounts: mounted.map((m) => ({ source: d.driver.path(m.volume.id), destination: m.path })),
      env: JSON.parse(row.env) as Record<string, string>,
      memoryBytes: row.memory,
      cpus: row.cpus,
      allowNet: row.allow_net === null ? undefined : (JSON.parse(row.allow_net) as string[]),
      rootReady,
    });
    d.sandboxes.setAddress(id, handle.address);
    d.sandboxes.setStatus(id, "ready");
    this.#live.set(id, { handle, timer: undefined });
    if (row.expires_at !== null) this.#arm(id, Date.parse(row.expires_at) - Date.now());
    if (row.snapshot_frequency !== null) this.#scheduler?.start(id, row.snapshot_frequency);
    void handle.exited.then(() => this.#end(id, "exited"));
  }

  /**
   * The content size of a read-only layer (snapshot or image). Such layers never change, so
   * the size is read from the filesystem's accounting once; it costs a transaction commit.
   */
  async #layerSize(layer: string): Promise<number> {
    let size = this.#sizes.get(layer);
    if (size === undefined) {
      size = (await this.#d.driver.usage()).get(layer)?.referencedBytes ?? 0;
      this.#sizes.set(layer, size);
    }
    return size;
  }

  /** The root a create asks for: `root` (a volume, a snapshot or the image) or `fromSnapshot`. */
  #resolveRoot(
    orgId: string,
    input: Pick<SandboxCreate, "root" | "fromSnapshot">,
    region: string,
  ): Root {
    const d = this.#d;
    const restore = input.fromSnapshot !== undefined;
    if (restore && input.root !== undefined)
      throw new StrataError("invalid_root", "Give either root or fromSnapshot, not both");
    const ref = input.fromSnapshot ?? input.root;
    if (ref === undefined || (!restore && ref === "builtin:debian-13"))
      return { kind: "image", image: "builtin:debian-13" };
    const volume = d.volumes.find(orgId, ref);
    if (volume) {
      if (restore)
        throw new StrataError(
          "invalid_root",
          `Cannot restore from ${q(ref)}: it is a volume; give it as root instead`,
        );
      this.#checkVolume(volume, region);
      if (volume.bootable !== 1) {
        throw new StrataError(
          "root_not_bootable",
          `Cannot boot from volume ${q(volume.slug)}: it was created empty, not from builtin:debian-13 or a bootable snapshot`,
        );
      }
      return { kind: "volume", volume };
    }
    const snap = d.snapshots.find(orgId, ref);
    if (snap) {
      if (snap.region !== region)
        throw new StrataError(
          "region_mismatch",
          `Cannot boot from snapshot ${q(snap.slug)}: it is in region ${q(snap.region)}`,
        );
      if (snap.status === "failed")
        throw new StrataError(
          "snapshot_failed",
          `Cannot boot from snapshot ${q(snap.slug)}: it failed (${snap.failure_reason ?? "no reason recorded"})`,
        );
      if (snap.status !== "ready")
        throw new StrataError(
          "snapshot_not_ready",
          `Cannot boot from snapshot ${q(snap.slug)}: it is still being created`,
        );
      if (snap.bootable !== 1)
        throw new StrataError(
          "root_not_bootable",
          `Cannot boot from snapshot ${q(snap.slug)}: its volume was not bootable`,
        );
      return { kind: "snapshot", id: snap.id, slug: snap.slug, snapshot: snap };
    }
    if (restore) throw new StrataError("snapshot_not_found", `Snapshot ${q(ref)} not found`);
    throw new StrataError(
      "volume_not_found",
      `Unknown root ${q(ref)}: no volume or snapshot has that id or slug`,
    );
  }

  #resolveVolume(orgId: string, ref: string, region: string): VolumeRow {
    const volume = this.#d.volumes.find(orgId, ref);
    if (!volume)
      throw new StrataError(
        "volume_not_found",
        `Cannot mount volume ${q(ref)}: no volume has that id or slug`,
      );
    this.#checkVolume(volume, region);
    return volume;
  }

  #checkVolume(volume: VolumeRow, region: string): void {
    if (volume.region !== region) {
      throw new StrataError(
        "region_mismatch",
        `Cannot use volume ${q(volume.slug)}: it is in region ${q(volume.region)}, the sandbox in ${q(region)}`,
      );
    }
    if (volume.status !== "ready")
      throw new StrataError(
        "volume_not_ready",
        `Cannot use volume ${q(volume.slug)}: it is ${volume.status}`,
      );
    if (volume.attached_to) {
      throw new StrataError(
        "volume_in_use",
        `Cannot attach volume ${q(volume.slug)}: it is already attached to sandbox ${volume.attached_to}`,
      );
    }
  }

  #arm(id: string, ms: number): void {
    const live = this.#live.get(id);
    if (!live) return;
    clearTimeout(live.timer);
    // setTimeout caps at 2^31-1 ms; longer timeouts re-arm.
    const step = Math.min(ms, 2 ** 31 - 1);
    live.timer = setTimeout(
      () => (step < ms ? this.#arm(id, ms - step) : void this.#end(id, "timeout")),
      step,
    );
    live.timer.unref();
  }

  async get(orgId: string, id: string): Promise<Sandbox> {
    this.#find(orgId, id);
    return this.#view(id);
  }

  async list(orgId: string, query: SandboxListQuery): Promise<Page<Sandbox>> {
    const labels: Record<string, string> = {};
    for (const l of query.label === undefined ? [] : [query.label].flat()) {
      const i = l.indexOf("=");
      if (i <= 0)
        throw new StrataError("invalid_labels", `Invalid label filter ${q(l)}: expected key=value`);
      labels[l.slice(0, i)] = l.slice(i + 1);
    }
    const page = this.#d.sandboxes.list(orgId, {
      status: query.status,
      labels,
      limit: query.limit,
      cursor: query.cursor,
    });
    return {
      items: page.items.map((r) => sandboxView(r, this.#d.portUrl)),
      nextCursor: page.nextCursor,
    };
  }

  /** Sets a new timeout, counted from now. */
  async update(orgId: string, id: string, input: SandboxUpdate): Promise<Sandbox> {
    const row = this.#alive(orgId, id, "extend the timeout of");
    const ms = parseTimeout(input.timeout, this.#d.limits.maxTimeoutMs);
    this.#d.sandboxes.setExpiry(row.id, new Date(Date.now() + ms).toISOString());
    this.#arm(row.id, ms);
    return this.#view(row.id);
  }

  /** Exposes `port` through the daemon's proxy (replacing the exposed port, if any); the URL is in the answer. */
  async expose(orgId: string, id: string, port: number): Promise<Sandbox> {
    const row = this.#alive(orgId, id, "expose a port of");
    this.#d.sandboxes.setPort(row.id, port);
    return this.#view(row.id);
  }

  /** Freezes every process of the sandbox (no CPU; memory and connections kept). Idempotent. */
  async pause(orgId: string, id: string): Promise<Sandbox> {
    const d = this.#d;
    const found = this.#find(orgId, id);
    using _lock = await d.locks.acquire(found.id);
    const row = this.#find(orgId, id);
    if (row.status === "paused") return this.#view(row.id);
    this.assertReady(row, "pause");
    await d.launcher.freeze(row.id);
    d.sandboxes.setStatus(row.id, "paused");
    d.events.record(orgId, "sandbox.paused", { sandbox: row.id }, `Sandbox ${row.id} paused`);
    return this.#view(row.id);
  }

  /** Thaws a paused sandbox: its processes go on where they were. Idempotent. */
  async resume(orgId: string, id: string): Promise<Sandbox> {
    const d = this.#d;
    const found = this.#find(orgId, id);
    using _lock = await d.locks.acquire(found.id);
    const row = this.#find(orgId, id);
    if (row.status === "ready") return this.#view(row.id);
    if (row.status !== "paused")
      throw new StrataError(
        "sandbox_not_ready",
        `Cannot resume sandbox ${row.id}: it is ${row.status}, not paused`,
      );
    await d.launcher.thaw(row.id);
    d.sandboxes.setStatus(row.id, "ready");
    d.events.record(orgId, "sandbox.resumed", { sandbox: row.id }, `Sandbox ${row.id} resumed`);
    return this.#view(row.id);
  }

  /** Stops a persistent sandbox, keeping its root filesystem for a later start. */
  async stop(orgId: string, id: string): Promise<Sandbox> {
    const row = this.#find(orgId, id);
    if (row.persistent !== 1)
      throw new StrataError(
        "sandbox_not_persistent",
        `Cannot stop sandbox ${row.id}: it is ephemeral (its filesystem would be lost); delete it instead`,
      );
    if (row.status !== "stopped") await this.#end(row.id, "stopped");
    return this.#view(row.id);
  }

  /** Boots a stopped persistent sandbox again from its kept root filesystem. */
  async start(orgId: string, id: string): Promise<Sandbox> {
    const d = this.#d;
    const found = this.#find(orgId, id);
    if (found.persistent !== 1)
      throw new StrataError(
        "sandbox_not_persistent",
        `Cannot start sandbox ${found.id}: only a persistent sandbox can be started again`,
      );
    await this.#ending.get(found.id);
    // The previous run's container (same id) is removed in the background: let it finish.
    await d.launcher.settle();
    using _lock = await d.locks.acquire(found.id);
    const row = this.#find(orgId, id);
    if (row.status !== "stopped" || row.retained !== 1)
      throw new StrataError(
        "sandbox_not_ready",
        row.status === "stopped"
          ? `Cannot start sandbox ${row.id}: it was deleted, and its disk with it`
          : `Cannot start sandbox ${row.id}: it is ${row.status}`,
      );
    const mounts = JSON.parse(row.mounts) as { path: string; volumeId: string }[];
    const mounted = mounts.map((m) => ({
      path: m.path,
      volume: this.#resolveVolume(orgId, m.volumeId, row.region),
    }));
    const expiresAt =
      row.timeout_ms === null ? null : new Date(Date.now() + row.timeout_ms).toISOString();
    transaction(d.db, () => {
      const taken = d.volumes.attach(
        mounted.map((m) => m.volume.id),
        row.id,
      );
      if (taken)
        throw new StrataError(
          "volume_in_use",
          `Cannot attach volume ${q(taken.slug)}: it is already attached to sandbox ${taken.attached_to}`,
        );
      d.sandboxes.restart(row.id, expiresAt);
    });
    try {
      await this.#boot({ ...row, expires_at: expiresAt }, mounted, Promise.resolve());
    } catch (err) {
      transaction(d.db, () => {
        d.volumes.detachAll(row.id);
        d.sandboxes.markStopped(row.id, "start_failed", new Date().toISOString());
      });
      throw err;
    }
    d.events.record(orgId, "sandbox.started", { sandbox: row.id }, `Sandbox ${row.id} started`);
    return this.#view(row.id);
  }

  /**
   * Kills the sandbox: resolves once none of its processes runs and it is marked stopped.
   * Its container state, network and ephemeral root are removed right after, in the
   * background; a persistent sandbox's disk is deleted before this returns.
   */
  async kill(orgId: string, id: string): Promise<void> {
    const d = this.#d;
    const row = this.#find(orgId, id);
    if (row.status !== "stopped") await this.#end(row.id, "killed");
    if (row.persistent === 1) {
      using _lock = await d.locks.acquire(row.id);
      const now = d.sandboxes.byId(row.id);
      if (now && now.status !== "stopped")
        throw new StrataError(
          "sandbox_not_ready",
          `Sandbox ${row.id} was started again while it was being deleted; delete it again`,
        );
      if (now?.retained === 1) {
        // The container is removed in the background; its mounts must be gone first.
        await d.launcher.settle();
        await d.driver.remove(now.root_layer);
        d.sandboxes.setRetained(row.id, false);
        d.log.info({ sandbox: row.id }, "Deleted the disk of persistent sandbox");
      }
    }
  }

  /** A running sandbox's agent and environment, for exec and files; fails when it is not ready. */
  context(
    orgId: string,
    id: string,
  ): { agent: SandboxHandle["agent"]; env: Record<string, string> } {
    const row = this.#find(orgId, id);
    this.assertReady(row, "run commands or touch files in");
    const live = this.#live.get(row.id);
    if (!live) throw new StrataError("sandbox_not_running", `Sandbox ${id} is not running`);
    return { agent: live.handle.agent, env: JSON.parse(row.env) as Record<string, string> };
  }

  /**
   * Runs `copy` with the sandbox's processes frozen, for a consistent image of its root:
   * the sandbox must be ready and stays ready. Returns what `copy` returned and how long
   * the processes were frozen. Serialised with pause, resume, start and stop.
   */
  async whileFrozen<T>(
    sandboxId: string,
    copy: (rootLayer: string) => Promise<T>,
  ): Promise<{ value: T; frozenMs: number }> {
    const d = this.#d;
    const layer = d.sandboxes.byId(sandboxId)?.root_layer;
    if (layer === undefined) throw new Error(`Sandbox ${sandboxId} has ended`);
    // Most dirty data goes to disk while the sandbox runs, so the frozen copy has little to flush.
    await run(["sync", "-f", d.driver.path(layer)]);
    await using held = await this.#hold(sandboxId, "snapshot");
    const value = await copy(layer);
    return { value, frozenMs: performance.now() - (held.frozenSince ?? performance.now()) };
  }

  /**
   * Holds a volume still for the instant of a copy: the sandbox it is attached to (if any,
   * and if running) is frozen until the returned handle is disposed. Dirty data is flushed
   * before the freeze, so the frozen copy has little left to write.
   */
  async quiesceVolume(volumeId: string): Promise<AsyncDisposable> {
    const d = this.#d;
    const sandboxId = d.volumes.byId(volumeId)?.attached_to;
    if (!sandboxId || !this.#live.has(sandboxId)) return { [Symbol.asyncDispose]: async () => {} };
    await run(["sync", "-f", d.driver.path(volumeId)]);
    const held = await this.#hold(sandboxId);
    return {
      [Symbol.asyncDispose]: async () => {
        await held[Symbol.asyncDispose]();
        if (held.frozenSince !== null)
          d.log.info(
            {
              sandbox: sandboxId,
              volume: volumeId,
              frozenMs: performance.now() - held.frozenSince,
            },
            "Thawed the sandbox after a copy of its volume",
          );
      },
    };
  }

  /**
   * Takes the sandbox's lock (serialising with pause, resume, start, stop and its end) and
   * freezes it; disposing thaws it and releases the lock. With `what`, the sandbox must be
   * ready (else the matching 409); without, one that is not ready is only locked (paused:
   * frozen already; starting or stopping: nothing of it writes), and `frozenSince` is null.
   */
  async #hold(
    sandboxId: string,
    what?: string,
  ): Promise<AsyncDisposable & { readonly frozenSince: number | null }> {
    const d = this.#d;
    const lock = await d.locks.acquire(sandboxId);
    try {
      const row = d.sandboxes.byId(sandboxId);
      const live = row !== undefined && this.#live.has(sandboxId);
      if (what !== undefined) {
        if (!live) throw new Error(`Sandbox ${sandboxId} has ended`);
        this.assertReady(row, what);
      } else if (!live || row.status !== "ready") {
        return { frozenSince: null, [Symbol.asyncDispose]: async () => lock[Symbol.dispose]() };
      }
      await d.launcher.freeze(sandboxId);
    } catch (err) {
      lock[Symbol.dispose]();
      throw err;
    }
    return {
      frozenSince: performance.now(),
      [Symbol.asyncDispose]: async () => {
        try {
          await d.launcher.thaw(sandboxId);
        } finally {
          lock[Symbol.dispose]();
        }
      },
    };
  }

  /** Fails with the right 409 unless the sandbox is ready. */
  assertReady(row: SandboxRow, what: string): void {
    if (row.status === "ready") return;
    if (row.status === "paused")
      throw new StrataError(
        "sandbox_paused",
        `Cannot ${what} sandbox ${row.id}: it is paused; resume it first`,
      );
    if (row.status === "stopped" || row.status === "stopping")
      throw new StrataError(
        "sandbox_not_running",
        `Cannot ${what} sandbox ${row.id}: it is ${row.status}`,
      );
    throw new StrataError(
      "sandbox_not_ready",
      `Cannot ${what} sandbox ${row.id}: it is ${row.status}`,
    );
  }

  /** A sandbox that is ready or paused (alive, whatever its processes are doing). */
  #alive(orgId: string, id: string, what: string): SandboxRow {
    const row = this.#find(orgId, id);
    if (row.status === "paused") return row;
    this.assertReady(row, what);
    return row;
  }

  #find(orgId: string, id: string): SandboxRow {
    const row = this.#d.sandboxes.find(orgId, id);
    if (!row) throw new StrataError("sandbox_not_found", `Sandbox ${q(id)} not found`);
    return row;
  }

  /** Any organisation's sandbox record, for the daemon's own work (schedules). */
  findAny(id: string): SandboxRow | undefined {
    return this.#d.sandboxes.byId(id);
  }

  /** The sandbox's record, for other services (snapshots); 404 when it is not the org's. */
  find(orgId: string, id: string): SandboxRow {
    return this.#find(orgId, id);
  }

  #view(id: string): Sandbox {
    const row = this.#d.sandboxes.byId(id);
    if (!row) throw new StrataError("sandbox_not_found", `Sandbox ${q(id)} not found`);
    return sandboxView(row, this.#d.portUrl);
  }

  /** Ends a sandbox once, however many callers ask; later callers wait for the same cleanup. */
  #end(id: string, reason: string): Promise<void> {
    let ending = this.#ending.get(id);
    if (!ending) {
      ending = this.#cleanup(id, reason).finally(() => this.#ending.delete(id));
      this.#ending.set(id, ending);
    }
    return ending;
  }

  async #cleanup(id: string, reason: string): Promise<void> {
    const d = this.#d;
    // Waits for a pause, resume or snapshot copy in progress: never tear down mid-freeze.
    using _lock = await d.locks.acquire(id);
    const row = d.sandboxes.byId(id);
    if (!row || row.status === "stopped") return;
    d.sandboxes.setStopReason(id, reason);
    d.sandboxes.setStatus(id, "stopping");
    this.#scheduler?.stop(id);
    const live = this.#live.get(id);
    clearTimeout(live?.timer);
    this.#live.delete(id);
    // Returns once nothing runs in the sandbox; the container, network and ephemeral root
    // are removed in the background (the launcher's settle/close/reconcile wait for it). A
    // persistent sandbox keeps its root for the next start; only a delete removes it.
    const layer = row.root_layer;
    await d.launcher.destroy(id, {
      release:
        row.root_kind === "volume" || row.persistent === 1
          ? undefined
          : () => d.driver.remove(layer),
    });
    transaction(
      d.db,
      () => {
        d.volumes.detachAll(id);
        d.sandboxes.markStopped(id, reason, new Date().toISOString());
      },
      EPHEMERAL,
    );
    d.log.info({ sandbox: id, reason }, "Sandbox stopped");
    if (row.persistent === 1)
      d.events.record(
        row.org_id,
        "sandbox.stopped",
        { sandbox: id },
        `Persistent sandbox ${id} stopped (${reason}); its disk is kept`,
      );
  }

  /** Resolves `port` of a sandbox for the proxy: a running sandbox that exposes it. */
  resolvePort(hostId: string, port: number): { address: string; port: number } | undefined {
    const id = `sbx_${hostId}`;
    const live = this.#live.get(id);
    const row = live && this.#d.sandboxes.byId(id);
    if (!live || !row || row.status !== "ready" || row.port !== port) return undefined;
    return { address: live.handle.address, port };
  }

  /** Ends every running sandbox and waits until everything they held is removed (daemon shutdown). */
  async stopAll(reason = "daemon_stopped"): Promise<void> {
    this.#scheduler?.stopAll();
    await Promise.allSettled(this.#d.sandboxes.live().map((r) => this.#end(r.id, reason)));
    await this.#d.launcher.settle();
  }

  /**
   * After a restart nothing of a previous run is alive (the agents exit when the daemon's
   * end of their socket closes): every sandbox still marked live is cleaned up and stopped.
   */
  async reconcile(): Promise<string[]> {
    const ended: string[] = [];
    for (const row of this.#d.sandboxes.live()) {
      await this.#cleanup(row.id, "daemon_restarted");
      ended.push(row.id);
    }
    await this.#d.launcher.reconcile(new Set());
    return ended;
  }
}

/** Where a sandbox's filesystem first came from: a restore inherits its snapshot's template. */
function templateOf(root: Root): SandboxRoot {
  if (root.kind === "volume")
    return { kind: "volume", volume: { id: root.volume.id, slug: root.volume.slug } };
  if (root.kind === "image") return { kind: "image", image: root.image };
  if (root.snapshot.template !== null) return JSON.parse(root.snapshot.template) as SandboxRoot;
  return { kind: "snapshot", snapshot: { id: root.id, slug: root.slug } };
}
