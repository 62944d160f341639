import { access, mkdir } from "node:fs/promises";
import { availableParallelism, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyInstance } from "fastify";
import type { Logger as PinoLogger } from "pino";
import type { Config } from "./config.ts";
import { openDatabase } from "./db/database.ts";
import { EventsRepo } from "./db/events-repo.ts";
import { ImagesRepo } from "./db/images-repo.ts";
import { OrgsRepo } from "./db/orgs-repo.ts";
import { SandboxesRepo } from "./db/sandboxes-repo.ts";
import { SlugsRepo } from "./db/slugs-repo.ts";
import { SnapshotsRepo } from "./db/snapshots-repo.ts";
import { VolumesRepo } from "./db/volumes-repo.ts";
import { evaluate } from "./host/checks.ts";
import { gatherFacts } from "./host/facts.ts";
import { buildApp } from "./http/app.ts";
import { parseSandboxHost, sandboxHost, sandboxUrl, startPortProxy } from "./http/port-proxy.ts";
import { proxyTls } from "./http/proxy-tls.ts";
import { MmdebstrapBuilder } from "./images/mmdebstrap.ts";
import { InFlight } from "./lib/in-flight.ts";
import { KeyedLock } from "./lib/keyed-lock.ts";
import { restrictToGroup } from "./lib/mounts.ts";
import { NetworkManager } from "./network/manager.ts";
import { CrunRuntime } from "./runtime/crun.ts";
import { CrunLauncher } from "./runtime/crun-launcher.ts";
import { hardNofileLimit, prepareCgroups } from "./runtime/host-setup.ts";
import { SANDBOX_ID_BASE } from "./runtime/oci-spec.ts";
import { AuthService } from "./service/auth.ts";
import { EventLog } from "./service/events.ts";
import { ImageService } from "./service/images.ts";
import { OrgService } from "./service/org.ts";
import { Reaper } from "./service/reaper.ts";
import { reconcile } from "./service/reconcile.ts";
import { SandboxIo } from "./service/sandbox-io.ts";
import { SandboxSnapshotService } from "./service/sandbox-snapshots.ts";
import { SandboxService } from "./service/sandboxes.ts";
import { SnapshotDiffService } from "./service/snapshot-diff.ts";
import { SnapshotFiles } from "./service/snapshot-files.ts";
import { SnapshotScheduler } from "./service/snapshot-scheduler.ts";
import { SnapshotService } from "./service/snapshots.ts";
import { VolumeService } from "./service/volumes.ts";
import { BtrfsDriver } from "./storage/btrfs/driver.ts";
import { openPool } from "./storage/btrfs/pool.ts";

export const VERSION = "0.1.0";

export interface Daemon {
  app: FastifyInstance;
  /** Where the API listens, e.g. `http://127.0.0.1:7070`. */
  url: string;
  /** Where the reverse proxy to sandbox ports listens. */
  proxyUrl: string;
  tokenFile: string;
  /** Stops accepting requests, waits for work in flight, releases the pool. Idempotent. */
  close(): Promise<void>;
}

/**
 * The composition root: opens the pool, the database and the drivers, reconciles them,
 * builds the services and the HTTP app, and listens. Shutdown runs the hooks registered
 * here in reverse order.
 */
export async function startDaemon(
  config: Config,
  log: PinoLogger,
  /** Aborted (SIGTERM during start-up): the start stops at its next step and unwinds what it made. */
  signal?: AbortSignal,
): Promise<Daemon> {
  await using stack = new AsyncDisposableStack();
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  await restrictToGroup(config.dataDir, SANDBOX_ID_BASE);

  const report = evaluate(await gatherFacts({ poolConfigured: config.pool !== undefined }));
  for (const c of report.checks.filter((c) => !c.ok)) {
    log[c.severity === "fatal" ? "error" : "warn"]({ check: c.name, fix: c.fix }, c.detail);
  }
  if (!report.ok)
    throw new Error(
      "The host is not ready for stratad (see the errors above, or run: npm start -- doctor)",
    );

  const pool = await openPool({
    dataDir: config.dataDir,
    pool: config.pool,
    sizeBytes: config.poolSizeBytes,
    prefix: config.prefix,
    accessGid: SANDBOX_ID_BASE,
    log: (m) => log.info(m),
  });
  stack.defer(() => pool.close());
  const driver = await BtrfsDriver.open(pool.root, { accessGid: SANDBOX_ID_BASE });
  stack.defer(() => driver.close());
  if (driver.quotaMode === "full")
    log.warn(
      { pool: pool.mount },
      "The pool's quotas are in full (qgroup) mode: every snapshot costs a second commit, and a running sandbox stays frozen for it. A pool made by this version uses simple quotas.",
    );

  const db = openDatabase(join(config.dataDir, "strata.db"));
  stack.defer(() => db.close());
  const repos = {
    orgs: new OrgsRepo(db),
    slugs: new SlugsRepo(db),
    volumes: new VolumesRepo(db),
    snapshots: new SnapshotsRepo(db),
    images: new ImagesRepo(db),
    sandboxes: new SandboxesRepo(db),
  };
  const locks = new KeyedLock();
  const auth = new AuthService(repos.orgs);
  const tokenFile = join(config.dataDir, "admin.token");
  await auth.ensureAdminToken(tokenFile);

  const images = new ImageService({
    repo: repos.images,
    driver,
    builder: new MmdebstrapBuilder({ mirror: config.debianMirror, idOffset: SANDBOX_ID_BASE }),
    log,
  });
  const volumes = new VolumeService({
    db,
    ...repos,
    driver,
    images,
    locks,
    log,
    regions: [config.region],
    capacity: config.capacity,
    purgeGraceMs: config.purgeGraceMs,
  });
  // Builds stop first, so that volumes waiting for them settle at once (left creating, resumed next start).
  stack.defer(async () => {
    await images.close();
    await volumes.settle();
  });
  const orgs = new OrgService(repos.orgs, config.snapshotRetention);
  const events = new EventLog(new EventsRepo(db), log);
  const restores = new InFlight();
  const snapshots = new SnapshotService({
    db,
    ...repos,
    driver,
    locks,
    log,
    orgs,
    events,
    restores,
    // A volume attached to a running sandbox is snapshotted with that sandbox frozen.
    quiesce: (volumeId) => sandboxes.quiesceVolume(volumeId),
  });

  const moved = await prepareCgroups();
  if (moved.length)
    log.info(
      { controllers: moved },
      "Moved cgroup controllers crun refuses in the v2 hierarchy to v1 hierarchies",
    );
  signal?.throwIfAborted();
  const network = await NetworkManager.open({
    prefix: config.prefix,
    // Two networks made ahead: a sandbox's create then costs no ip or nft exec.
    warm: 2,
    ...(config.subnet ? { subnet: config.subnet } : {}),
    log,
  });
  stack.defer(() => network.close());
  const agentPath = fileURLToPath(new URL("../../agent/build/strata-agent", import.meta.url));
  await access(agentPath).catch(() => {
    throw new Error(
      `The sandbox agent is not built at ${agentPath}: run scripts/bootstrap.sh (or packages/agent/build.sh)`,
    );
  });
  const launcher = new CrunLauncher({
    crun: new CrunRuntime({ stateDir: join("/run", config.prefix) }),
    network,
    agentPath,
    prefix: config.prefix,
    nofile: await hardNofileLimit(),
    pids: 1024,
    log,
  });
  let proxyPort = config.proxy.port;
  const sandboxes = new SandboxService({
    db,
    sandboxes: repos.sandboxes,
    volumes: repos.volumes,
    snapshots: repos.snapshots,
    driver,
    images,
    launcher,
    locks,
    log,
    events,
    restores,
    region: config.region,
    limits: {
      memory: {
        minBytes: 64 * 2 ** 20,
        maxBytes: Math.min(16 * 2 ** 30, totalmem()),
        defaultBytes: 2 ** 30,
      },
      cpus: { min: 0.1, max: availableParallelism(), default: 1 },
      maxTimeoutMs: 7 * 86_400_000,
      rootCapacityBytes: config.rootCapacityBytes,
      disk: config.capacity,
    },
    portUrl: (id, port) => sandboxUrl({ baseDomain: config.proxy.baseDomain, proxyPort }, id, port),
  });
  stack.defer(() => launcher.close());
  stack.defer(() => sandboxes.stopAll());
  const sandboxSnapshots = new SandboxSnapshotService({
    db,
    snapshots: repos.snapshots,
    slugs: repos.slugs,
    driver,
    sandboxes,
    snapshotService: snapshots,
    orgs,
    events,
    log,
  });
  const scheduler = new SnapshotScheduler((id) => sandboxSnapshots.tick(id));
  sandboxes.useScheduler(scheduler);
  // No new ticks, then the copies in flight settle, then the sandboxes stop.
  stack.defer(async () => {
    scheduler.stopAll();
    await sandboxSnapshots.settle();
  });
  signal?.throwIfAborted();
  await sandboxes.reconcile();
  const io = new SandboxIo(sandboxes);

  signal?.throwIfAborted();
  await reconcile({
    ...repos,
    driver,
    volumeService: volumes,
    retainedLayers: () => repos.sandboxes.retained().map((r) => r.root_layer),
    log,
  });
  const reaper = new Reaper({ snapshots, events, log }, config.reaperIntervalMs);
  stack.defer(() => reaper.close());
  const purge = async () => {
    try {
      await volumes.purgeDue();
    } catch (err) {
      log.error({ err }, "Purging deleted volumes failed");
    }
  };
  await purge();
  const purgeTimer = setInterval(purge, config.purgeIntervalMs);
  stack.defer(() => clearInterval(purgeTimer));

  const proxy = await startPortProxy({
    host: config.proxy.host,
    port: config.proxy.port,
    baseDomain: config.proxy.baseDomain,
    tls: await proxyTls(join(config.dataDir, "proxy-tls"), (name) =>
      Boolean(parseSandboxHost(name, config.proxy.baseDomain)),
    ),
    // A host without a port (the Deno API's sandbox.url) means the sandbox's exposed port.
    resolve: (hostId, port) =>
      sandboxes.resolvePort(hostId, port ?? sandboxes.findAny(`sbx_${hostId}`)?.port ?? 0),
    log,
  });
  proxyPort = proxy.port;
  stack.defer(() => proxy.close());

  const app = await buildApp({
    services: {
      auth,
      volumes,
      snapshots,
      images,
      sandboxes,
      sandboxSnapshots,
      orgs,
      events,
      io,
      snapshotFiles: new SnapshotFiles({ snapshots: repos.snapshots, driver }),
      snapshotDiff: new SnapshotDiffService({
        ...repos,
        driver,
        locks,
        log,
        quiesce: (volumeId) => sandboxes.quiesceVolume(volumeId),
      }),
      doctor: async () =>
        evaluate(await gatherFacts({ poolConfigured: config.pool !== undefined })),
    },
    logger: log,
    version: VERSION,
    region: config.region,
    sandboxHost: (id) => sandboxHost({ baseDomain: config.proxy.baseDomain, proxyPort }, id),
  });
  stack.defer(() => app.close());
  signal?.throwIfAborted();
  await app.listen({ host: config.listen.host, port: config.listen.port });
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : config.listen.port;
  const host = config.listen.host.includes(":") ? `[${config.listen.host}]` : config.listen.host;

  const shutdown = stack.move();
  let closing: Promise<void> | undefined;
  return {
    app,
    url: `http://${host}:${port}`,
    proxyUrl: `http://${config.proxy.host}:${proxy.port}`,
    tokenFile,
    close: () => {
      closing ??= shutdown.disposeAsync();
      return closing;
    },
  };
}
