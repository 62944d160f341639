import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { BtrfsDriver } from "../storage/btrfs/driver.ts";
import { canUseBtrfs, tempPool } from "../testing/btrfs-fixture.ts";
import { servicesForTest } from "./test-support.ts";

test("restores and diffs of the same volume and snapshots, run at once in every order, all finish", {
  skip: !canUseBtrfs && "needs root and btrfs",
  timeout: 120_000,
}, async () => {
  await using pool = await tempPool();
  const driver = await BtrfsDriver.open(pool.root);
  await using t = await servicesForTest({ driver });
  const { volumes, snapshots, snapshotDiff: diffs } = t.services;
  const org = t.orgId;

  const vol = await volumes.create(org, { slug: "data", region: "local", capacity: "1GB" });
  await writeFile(join(driver.writablePath(vol.id), "f"), "one");
  await snapshots.createFromVolume(org, "data", { slug: "data-1" });
  await writeFile(join(driver.writablePath(vol.id), "f"), "two");
  await snapshots.createFromVolume(org, "data", { slug: "data-2" });

  for (let round = 0; round < 5; round++) {
    const [, , back, forth] = await Promise.all([
      diffs.diff(org, "data-1", { to: "data", limit: 10 }),
      volumes.restore(org, "data", { snapshot: "data-1" }),
      diffs.diff(org, "data-2", { to: "data-1", limit: 10 }),
      diffs.diff(org, "data-1", { to: "data-2", limit: 10 }),
      volumes.restore(org, "data", { snapshot: "data-2" }),
      diffs.diff(org, "data-2", { to: "data", limit: 10 }),
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
