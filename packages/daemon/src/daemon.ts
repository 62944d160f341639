import { access, mkdir, readFile, rm, rmdir } from "node:fs/promises";
import { availableParallelism, totalmem } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { CPUS_MIN, MEMORY_LIMITS } from "@strata/api";
import type { FastifyInstance } from "fastify";
import type { Logger as PinoLogger } from "pino";
import { type Config, DEFAULT_CA_FILE } from "./config.ts";
import { openStore } from "./db/store.ts";
import { evaluate } from "./host/checks.ts";
import { gatherFacts } from "./host/facts.ts";
import { buildApp } from "./http/app.ts";
import { parseSandboxHost, sandboxHost, sandboxUrl, startPortProxy } from "./http/port-proxy.ts";
import { proxyTls } from "./http/proxy-tls.ts";
import { MmdebstrapBuilder } from "./images/mmdebstrap.ts";
import { restrictToGroup } from "./lib/mounts.ts";
import { NetworkManager } from "./network/manager.ts";
import { CrunRuntime } from "./runtime/crun.ts";
import { CrunLauncher } from "./runtime/crun-launcher.ts";
import { prepareHostCa, publicRoots } from "./runtime/host-ca.ts";
import { hardNofileLimit, prepareCgroups } from "./runtime/host-setup.ts";
import { SANDBOX_ID_BASE } from "./runtime/oci-spec.ts";
import { createServices } from "./service/create-services.ts";
import { LiveSandboxes } from "./service/sandbox-registry.ts";
import { BtrfsDriver } from "./storage/btrfs/driver.ts";
import { openPool } from "./storage/btrfs/pool.ts";

export const VERSION = "0.1.0";

/** How long requests in flight at shutdown get before the sandboxes they use are ended. */
const SHUTDOWN_GRACE_MS = 5_000;

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

  // Last of all, /run/<prefix> (crun's state, bundles, the host CA file) once it is empty;
  // a start that failed early leaves nothing there either.
  const runDir = join("/run", config.prefix);
  stack.defer(() => removeEmptyStateDir(runDir));
  // The host's CAs beyond the public ones, in a file of this daemon's that sandboxes mount.
  const hostCaFile = join(runDir, "host-ca.crt");
  const hostCa =
    config.caFile === undefined
      ? undefined
      : await prepareHostCa(config.caFile, {
          optional: config.caFile === DEFAULT_CA_FILE,
          target: hostCaFile,
          publicRoots: await publicRoots(),
        });
  if (config.caFile !== undefined)
    log.info(
      { caFile: config.caFile, ...hostCa },
      hostCa?.added
        ? `Sandboxes trust ${hostCa.added} of the host's CA certificates on top of their images' (those beyond the public roots)`
        : "Sandboxes get no CA certificates from the host: it trusts none beyond the public roots",
    );
  stack.defer(() => rm(hostCaFile, { force: true }));

  const pool = await openPool({
    dataDir: config.dataDir,
    pool: config.pool,
    sizeBytes: config.poolSizeBytes,
    prefix: config.prefix,
    accessGid: SANDBOX_ID_BASE,
    log: (m) => log.info(m),
  });
  stack.defer(async () => {
    const loop = config.pool === undefined ? await loopDeviceOf(pool.mount) : undefined;
    await pool.close();
    if (loop) await loopReleased(loop, log);
  });
  const driver = await BtrfsDriver.open(pool.root, { accessGid: SANDBOX_ID_BASE });
  stack.defer(() => driver.close());
  if (driver.quotaMode === "full")
    log.warn(
      { pool: pool.mount },
      "The pool's quotas are in full (qgroup) mode: every snapshot costs a second commit, and a running sandbox stays frozen for it. A pool made by this version uses simple quotas.",
    );

  const store = openStore(join(config.dataDir, "strata.db"));
  stack.defer(() => store.close());

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
    hostCa: hostCa?.added ? hostCaFile : undefined,
    log,
  });
  stack.defer(() => launcher.close());

  // The proxy listens first: sandbox URLs name its port. It reads the live sandboxes only.
  const live = new LiveSandboxes(store.sandboxes);
  const proxy = await startPortProxy({
    host: config.proxy.host,
    port: config.proxy.port,
    baseDomain: config.proxy.baseDomain,
    tls: await proxyTls(join(config.dataDir, "proxy-tls"), (name) =>
      Boolean(parseSandboxHost(name, config.proxy.baseDomain)),
    ),
    // A host without a port (the Deno API's sandbox.url) means the sandbox's exposed port.
    resolve: (hostId, port) =>
      live.resolvePort(hostId, port ?? store.sandboxes.byId(`sbx_${hostId}`)?.port ?? 0),
    log,
  });
  stack.defer(() => proxy.close());
  const proxyAddress = { baseDomain: config.proxy.baseDomain, proxyPort: proxy.port };

  const services = createServices({
    store,
    driver,
    launcher,
    imageBuilder: new MmdebstrapBuilder({ mirror: config.debianMirror, idOffset: SANDBOX_ID_BASE }),
    log,
    region: config.region,
    capacity: config.capacity,
    sandboxLimits: {
      memory: {
        minBytes: MEMORY_LIMITS.minBytes,
        maxBytes: Math.min(MEMORY_LIMITS.maxBytes, totalmem()),
        defaultBytes: 2 ** 30,
      },
      cpus: { min: CPUS_MIN, max: availableParallelism(), default: 1 },
      maxTimeoutMs: 7 * 86_400_000,
      rootCapacityBytes: config.rootCapacityBytes,
    },
    purgeGraceMs: config.purgeGraceMs,
    purgeIntervalMs: config.purgeIntervalMs,
    snapshotRetention: config.snapshotRetention,
    reaperIntervalMs: config.reaperIntervalMs,
    portUrl: (id, port) => sandboxUrl(proxyAddress, id, port),
    live,
    doctor: async () => evaluate(await gatherFacts({ poolConfigured: config.pool !== undefined })),
  });
  // Requests still running after the grace period (a long exec) end with their sandbox.
  let httpClosing: Promise<void> | undefined;
  stack.defer(() => httpClosing);
  stack.defer(() => services.close());
  const tokenFile = join(config.dataDir, "admin.token");
  await services.auth.ensureAdminToken(tokenFile);
  signal?.throwIfAborted();
  await services.start();

  const app = await buildApp({
    services,
    logger: log,
    version: VERSION,
    region: config.region,
    sandboxHost: (id) => sandboxHost(proxyAddress, id),
  });
  stack.defer(async () => {
    // A connection busy when the shutdown starts would stay open after its last answer for
    // Fastify's keep-alive timeout (72 s), and app.close() waits for it: close it at once.
    app.server.keepAliveTimeout = 1;
    httpClosing = app.close();
    // Requests in flight get a grace period; one that needs longer must not hold the
    // shutdown (a supervisor would SIGKILL the daemon, leaving the pool mounted).
    await Promise.race([httpClosing, delay(SHUTDOWN_GRACE_MS, undefined, { ref: false })]);
  });
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

/** Removes `dir` (crun's state and bundles) when nothing but its empty folders is left in it. */
async function removeEmptyStateDir(dir: string): Promise<void> {
  for (const d of [join(dir, "bundles"), join(dir, "crun"), dir]) await rmdir(d).catch(() => {});
}

/** The loop device (`loop13`) and its backing file under the filesystem mounted at `mount`. */
async function loopDeviceOf(mount: string): Promise<{ name: string; file: string } | undefined> {
  const table = await readFile("/proc/self/mountinfo", "utf8").catch(() => "");
  const line = table.split("\n").find((l) => l.split(" ")[4] === mount);
  const name = /^\/dev\/(loop\d+)$/.exec(line?.split(" - ")[1]?.split(" ")[1] ?? "")?.[1];
  if (!name) return undefined;
  const file = await readFile(`/sys/block/${name}/loop/backing_file`, "utf8").catch(() => "");
  return file ? { name, file: file.trim() } : undefined;
}

/**
 * Waits until the kernel has let go of the pool's loop device. `umount` returns while the
 * filesystem can still be held elsewhere (a sandbox's mount namespace that is going away),
 * and the device is detached only when the last holder is gone. Polled, as no event says
 * so; a device reused for another file meanwhile counts as released.
 */
async function loopReleased(loop: { name: string; file: string }, log: PinoLogger): Promise<void> {
  const started = performance.now();
  const backing = `/sys/block/${loop.name}/loop/backing_file`;
  let polls = 0;
  while ((await readFile(backing, "utf8").catch(() => "")).trim() === loop.file) {
    if (performance.now() - started > 10_000) {
      log.warn({ device: loop.name, file: loop.file }, "The pool's loop device is still attached");
      return;
    }
    polls++;
    await delay(5);
  }
  if (polls > 0)
    log.info(
      { device: loop.name, waitedMs: Math.round(performance.now() - started) },
      "The pool's loop device is released",
    );
}
