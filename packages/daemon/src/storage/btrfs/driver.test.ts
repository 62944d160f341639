import assert from "node:assert/strict";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { run } from "../../lib/exec.ts";
import { canUseBtrfs, tempPool } from "../../testing/btrfs-fixture.ts";
import { driverConformance } from "../conformance.ts";
import { BtrfsDriver } from "./driver.ts";

if (!canUseBtrfs) {
  test("btrfs driver (needs root and btrfs-progs)", {
    skip: "not root or btrfs-progs missing",
  }, () => {});
} else {
  driverConformance("BtrfsDriver", async () => {
    const pool = await tempPool();
    return {
      driver: await BtrfsDriver.open(pool.root),
      [Symbol.asyncDispose]: () => pool[Symbol.asyncDispose](),
    };
  });

  test("BtrfsDriver: remove() deletes subvolumes that sandbox code nested inside a layer", async () => {
    await using pool = await tempPool();
    const d = await BtrfsDriver.open(pool.root);
    await d.create("vol-a");
    await mkdir(join(d.path("vol-a"), "deep"));
    await run(["btrfs", "subvolume", "create", join(d.path("vol-a"), "deep", "inner")]);
    await run([
      "btrfs",
      "subvolume",
      "snapshot",
      "-r",
      join(d.path("vol-a"), "deep", "inner"),
      join(d.path("vol-a"), "ro"),
    ]);
    await d.remove("vol-a");
    assert.deepEqual(await d.list(), []);
  });

  test("BtrfsDriver: cleanup() deletes half-made layers left in tmp by a crash", async () => {
    await using pool = await tempPool();
    const d = await BtrfsDriver.open(pool.root);
    await run(["btrfs", "subvolume", "create", join(pool.root, "tmp", "vol-crashed")]);
    await writeFile(join(pool.root, "tmp", "vol-crashed", "f"), "x");
    assert.deepEqual(await d.cleanup(), ["vol-crashed"]);
    assert.deepEqual(await readdir(join(pool.root, "tmp")), []);
  });

  test("BtrfsDriver: a killed helper fails the call in flight, and the next call starts a new one", async () => {
    await using pool = await tempPool();
    const d = await BtrfsDriver.open(pool.root);
    await d.create("vol-a");
    const first = d.helperPid;
    assert.ok(first);
    process.kill(first, "SIGKILL");
    // The kill may land before or after this snapshot's ioctl: either it fails with the
    // helper's death or it is done; the driver's state stays consistent either way.
    await d.snapshot("vol-a", "snp-a").catch((err: Error) => {
      assert.match(err.message, /btrfs helper stopped/);
    });
    await d.create("vol-b", { from: "vol-a" });
    assert.notEqual(d.helperPid, first);
    assert.equal(await d.has("vol-b"), true);
    await d.close();
  });
}
