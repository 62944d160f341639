import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import type { Logger as PinoLogger } from "pino";
import type { Config } from "./config.ts";
import { openDatabase } from "./db/database.ts";
import { ImagesRepo } from "./db/images-repo.ts";
import { OrgsRepo } from "./db/orgs-repo.ts";
import { SlugsRepo } from "./db/slugs-repo.ts";
import { SnapshotsRepo } from "./db/snapshots-repo.ts";
import { VolumesRepo } from "./db/volumes-repo.ts";
import { evaluate } from "./host/checks.ts";
import { gatherFacts } from "./host/facts.ts";
import { buildApp } from "./http/app.ts";
import { MmdebstrapBuilder } from "./images/mmdebstrap.ts";
import { KeyedLock } from "./lib/keyed-lock.ts";
import { SANDBOX_ID_BASE } from "./runtime/oci-spec.ts";
import { AuthService } from "./service/auth.ts";
import { ImageService } from "./service/images.ts";
import { reconcile } from "./service/reconcile.ts";
import { SnapshotService } from "./service/snapshots.ts";
import { VolumeService } from "./service/volumes.ts";
import { BtrfsDriver } from "./storage/btrfs/driver.ts";
import { openPool } from "./storage/btrfs/pool.ts";

export const VERSION = "0.1.0";

export interface Daemon {
  app: FastifyInstance;
  /** Where the API listens, e.g. `http://127.0.0.1:7070`. */
  url: string;
  tokenFile: string;
  /** Stops accepting requests, waits for work in flight, releases the pool. Idempotent. */
  close(): Promise<void>;
}

/**
 * The composition root: opens the pool, the database and the drivers, reconciles them,
 * builds the services and the HTTP app, and listens. Shutdown runs the hooks registered
 * here in reverse order.
 */
export async function startDaemon(config: Config, log: PinoLogger): Promise<Daemon> {
  await using stack = new AsyncDisposableStack();
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });

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
    log: (m) => log.info(m),
  });
  stack.defer(() => pool.close());
  const driver = await BtrfsDriver.open(pool.root);

  const db = openDatabase(join(config.dataDir, "strata.db"));
  stack.defer(() => db.close());
  const repos = {
    orgs: new OrgsRepo(db),
    slugs: new SlugsRepo(db),
    volumes: new VolumesRepo(db),
    snapshots: new SnapshotsRepo(db),
    images: new ImagesRepo(db),
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
  const snapshots = new SnapshotService({ db, ...repos, driver, locks, log });

  await reconcile({ ...repos, driver, volumeService: volumes, log });
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

  const app = await buildApp({
    services: {
      auth,
      volumes,
      snapshots,
      images,
      doctor: async () =>
        evaluate(await gatherFacts({ poolConfigured: config.pool !== undefined })),
    },
    logger: log,
    version: VERSION,
    region: config.region,
  });
  stack.defer(() => app.close());
  await app.listen({ host: config.listen.host, port: config.listen.port });
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : config.listen.port;
  const host = config.listen.host.includes(":") ? `[${config.listen.host}]` : config.listen.host;

  const shutdown = stack.move();
  let closing: Promise<void> | undefined;
  return {
    app,
    url: `http://${host}:${port}`,
    tokenFile,
    close: () => {
      closing ??= shutdown.disposeAsync();
      return closing;
    },
  };
}
