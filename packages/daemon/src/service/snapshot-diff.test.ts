import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { openDatabase } from "../db/database.ts";
import { EventsRepo } from "../db/events-repo.ts";
import { ImagesRepo } from "../db/images-repo.ts";
import { OrgsRepo } from "../db/orgs-repo.ts";
import { SlugsRepo } from "../db/slugs-repo.ts";
import { SnapshotsRepo } from "../db/snapshots-repo.ts";
import { VolumesRepo } from "../db/volumes-repo.ts";
import { InFlight } from "../lib/in-flight.ts";
import { KeyedLock } from "../lib/keyed-lock.ts";
import type { Logger } from "../lib/logger.ts";
import { BtrfsDriver } from "../storage/btrfs/driver.ts";
import { canUseBtrfs, tempPool } from "../testing/btrfs-fixture.ts";
import { EventLog } from "./events.ts";
import { ImageService } from "./images.ts";
import { OrgService } from "./org.ts";
import { SnapshotDiffService } from "./snapshot-diff.ts";
import { SnapshotService } from "./snapshots.ts";
import { VolumeService } from "./volumes.ts";

const quiet: Logger = { info() {}, warn() {}, error() {} };

test("restores and diffs of the same volume and snapshots, run at once in every order, all finish", {
  skip: !canUseBtrfs && "needs root and btrfs",
  timeout: 120_000,
}, async () => {
  await using pool = await tempPool();
  const driver = await BtrfsDriver.open(pool.root);
  const db = openDatabase(":memory:");
  new OrgsRepo(db).insertOrg({ id: "org_1", name: "default", createdAt: "2026-01-01" });
  const repos = {
    volumes: new VolumesRepo(db),
    snapshots: new SnapshotsRepo(db),
    slugs: new SlugsRepo(db),
  };
  const locks = new KeyedLock();
  const images = new ImageService({
    repo: new ImagesRepo(db),
    driver,
    builder: { build: async () => {} },
    log: quiet,
  });
  const volumes = new VolumeService({
    db,
    ...repos,
    driver,
    images,
    locks,
    log: quiet,
    regions: ["local"],
    capacity: { minBytes: 1, maxBytes: 1e12 },
    purgeGraceMs: 1000,
  });
  const snapshots = new SnapshotService({
    db,
    ...repos,
    driver,
    locks,
    log: quiet,
    orgs: new OrgService(new OrgsRepo(db), "never"),
    events: new EventLog(new EventsRepo(db), quiet),
    restores: new InFlight(),
  });
  const diffs = new SnapshotDiffService({ ...repos, driver, locks, log: quiet });

  const vol = await volumes.create("org_1", { slug: "data", region: "local", capacity: "1GB" });
  await writeFile(join(driver.writablePath(vol.id), "f"), "one");
  await snapshots.createFromVolume("org_1", "data", { slug: "data-1" });
  await writeFile(join(driver.writablePath(vol.id), "f"), "two");
  await snapshots.createFromVolume("org_1", "data", { slug: "data-2" });

  for (let round = 0; round < 5; round++) {
    const [, , back, forth] = await Promise.all([
      diffs.diff("org_1", "data-1", { to: "data", limit: 10 }),
      volumes.restore("org_1", "data", { snapshot: "data-1" }),
      diffs.diff("org_1", "data-2", { to: "data-1", limit: 10 }),
      diffs.diff("org_1", "data-1", { to: "data-2", limit: 10 }),
      volumes.restore("org_1", "data", { snapshot: "data-2" }),
      diffs.diff("org_1", "data-2", { to: "data", limit: 10 }),
    ]);
    assert.deepEqual([back.changed, forth.changed], [["/f"], ["/f"]]);
  }
  // The last restore ran last: the volume holds data-2's content, and no diff left a layer.
  assert.equal(await readFile(join(driver.writablePath(vol.id), "f"), "utf8"), "two");
  assert.deepEqual((await driver.list()).map((l) => l.state).sort(), [
    "readonly",
    "readonly",
    "writable",
  ]);
});
