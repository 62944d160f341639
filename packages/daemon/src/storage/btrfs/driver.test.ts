import assert from "node:assert/strict";
import { mkdir, readdir, readFile, rename, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { test } from "node:test";
import { run } from "../../lib/exec.ts";
import { canUseBtrfs, tempPool } from "../../testing/btrfs-fixture.ts";
import { driverConformance } from "../conformance.ts";
import { BtrfsDriver, enableQuotas } from "./driver.ts";
import { BtrfsHelperError } from "./helper.ts";

const MiB = 1024 * 1024;

/** `/sys/fs/btrfs/<fsid>` of the filesystem mounted at `mount`, found through its device. */
async function sysfsOf(mount: string): Promise<string> {
  const { stdout } = await run(["findmnt", "-n", "-o", "SOURCE", mount]);
  const dev = basename(stdout.trim());
  for (const fsid of await readdir("/sys/fs/btrfs")) {
    const devices = await readdir(join("/sys/fs/btrfs", fsid, "devices")).catch(
      () => [] as string[],
    );
    if (devices.includes(dev)) return join("/sys/fs/btrfs", fsid);
  }
  throw new Error(`No btrfs in sysfs has device ${dev}`);
}

test("enableQuotas() asks for simple quotas, falls back to full ones on a kernel without them, and reports the mode in force", async () => {
  const asked: string[] = [];
  const helper = (answers: Record<string, string | Error>) => ({
    call: async (op: string, args: readonly string[]) => {
      asked.push(`${op} ${args.join(" ")}`);
      const a = answers[args[1]!];
      if (a instanceof Error) throw a;
      return a ?? "";
    },
  });
  assert.equal(await enableQuotas(helper({ simple: "squota" }), "/p"), "simple");
  // quotas on in full mode already: the kernel keeps them so
  assert.equal(await enableQuotas(helper({ simple: "qgroup" }), "/p"), "full");
  asked.length = 0;
  const old = helper({
    simple: new BtrfsHelperError("quota enable: Invalid argument", "EINVAL", 22),
    full: "qgroup",
  });
  assert.equal(await enableQuotas(old, "/p"), "full");
  assert.deepEqual(asked, ["quota /p simple", "quota /p full"]);
  const denied = helper({
    simple: new BtrfsHelperError("quota enable: Operation not permitted", "EPERM", 1),
  });
  await assert.rejects(enableQuotas(denied, "/p"), /Operation not permitted/);
});

if (!canUseBtrfs) {
  test("btrfs driver (needs root and btrfs-progs)", {
    skip: "not root or btrfs-progs missing",
  }, () => {});
} else {
  driverConformance("BtrfsDriver", {
    info: BtrfsDriver.info,
    open: async () => {
      const pool = await tempPool();
      const driver = await BtrfsDriver.open(pool.root);
      return {
        driver,
        [Symbol.asyncDispose]: async () => {
          await driver.close();
          await pool[Symbol.asyncDispose]();
        },
      };
    },
  });

  // A pool whose quotas were turned on in full mode before (by an older stratad, or by an
  // administrator for --pool) keeps that mode, and every rule holds there too.
  driverConformance("BtrfsDriver (full quotas)", {
    info: BtrfsDriver.info,
    open: async () => {
      const pool = await tempPool();
      await run(["btrfs", "quota", "enable", pool.mount]);
      const driver = await BtrfsDriver.open(pool.root);
      assert.equal(driver.quotaMode, "full");
      return {
        driver,
        [Symbol.asyncDispose]: async () => {
          await driver.close();
          await pool[Symbol.asyncDispose]();
        },
      };
    },
  });

  test("BtrfsDriver: a new pool gets simple quotas", async () => {
    await using pool = await tempPool();
    const d = await BtrfsDriver.open(pool.root);
    assert.equal(d.quotaMode, "simple");
    assert.equal(
      await readFile(join(await sysfsOf(pool.mount), "qgroups", "mode"), "utf8"),
      "squota\n",
    );
    await d.close();
  });

  test("BtrfsDriver: a restore cut after the swap gives the layer its new inherited size on cleanup()", async () => {
    await using pool = await tempPool();
    const d = await BtrfsDriver.open(pool.root);
    await d.create("vol-a");
    await writeFile(join(d.writablePath("vol-a"), "big"), Buffer.alloc(4 * 1024 * 1024, 1));
    await d.snapshot("vol-a", "snp-a");
    await d.create("vol-b");
    await d.restore("vol-b", "snp-a");
    // The figure as a crash between the swap and its move would leave it.
    await rename(join(pool.root, "meta", "vol-b"), join(pool.root, "meta", "vol-b@restore"));
    await d.close();
    const again = await BtrfsDriver.open(pool.root);
    const before = (await again.usage(["vol-b"])).get("vol-b")?.referencedBytes ?? 0;
    assert.ok(before < 1024 * 1024, `before cleanup vol-b references ${before}`);
    await again.cleanup();
    const ref = (await again.usage(["vol-b"])).get("vol-b")?.referencedBytes ?? 0;
    assert.ok(ref >= 4 * 1024 * 1024, `vol-b references ${ref}`);
    assert.deepEqual((await readdir(join(pool.root, "meta"))).sort(), ["snp-a", "vol-b"]);
    // A figure whose layer a crash never put in place is dropped.
    await writeFile(join(pool.root, "meta", "vol-gone"), "123");
    const third = await BtrfsDriver.open(pool.root);
    await third.cleanup();
    assert.deepEqual((await readdir(join(pool.root, "meta"))).sort(), ["snp-a", "vol-b"]);
    await again.close();
    await third.close();
  });

  test("BtrfsDriver: a read-only layer's size is recorded when it is made, and one made before records gets it on first ask", async () => {
    await using pool = await tempPool();
    const d = await BtrfsDriver.open(pool.root);
    await d.create("vol-a");
    await writeFile(join(d.writablePath("vol-a"), "big"), Buffer.alloc(4 * MiB, 1));
    await d.snapshot("vol-a", "snp-a");
    const meta = join(pool.root, "meta", "snp-a");
    const record = JSON.parse(await readFile(meta, "utf8"));
    assert.ok(record.referencedBytes >= 4 * MiB, JSON.stringify(record));
    const usage = (await d.usage(["snp-a"])).get("snp-a");
    assert.deepEqual(usage, {
      referencedBytes: record.referencedBytes,
      exclusiveBytes: record.exclusiveBytes,
    });
    // As an older stratad left it: what the snapshot inherited, as a bare number.
    await writeFile(meta, String(record.inheritedBytes));
    await d.close();
    const again = await BtrfsDriver.open(pool.root);
    assert.deepEqual((await again.usage(["snp-a"])).get("snp-a"), usage);
    assert.deepEqual(JSON.parse(await readFile(meta, "utf8")), record);
    await again.close();
  });

  test("BtrfsDriver: under simple quotas, the usage of read-only layers needs no ioctl", async () => {
    await using pool = await tempPool();
    const d = await BtrfsDriver.open(pool.root);
    await d.create("vol-a");
    await writeFile(join(d.writablePath("vol-a"), "f"), Buffer.alloc(MiB, 1));
    await d.snapshot("vol-a", "snp-a");
    const before = await d.usage(["snp-a"]);
    // From here every helper call fails.
    await d.close();
    assert.deepEqual(await d.usage(["snp-a", "nope"]), before);
    await assert.rejects(d.usage(["vol-a"]), /btrfs helper is closed/);
  });

  test("BtrfsDriver: usage() answers for more layers than one helper request carries, each its own", async () => {
    await using pool = await tempPool();
    const d = await BtrfsDriver.open(pool.root);
    const ids = Array.from({ length: 300 }, (_, i) => `vol-${i}`);
    const bytes = (i: number) => ((i % 7) + 1) * 64 * 1024;
    for (const [i, id] of ids.entries()) {
      await d.create(id);
      await writeFile(join(d.writablePath(id), "f"), Buffer.alloc(bytes(i), 1));
    }
    const u = await d.usage([...ids, "nope"]);
    assert.equal(u.size, ids.length);
    for (const [i, id] of ids.entries()) {
      const ref = u.get(id)?.referencedBytes ?? 0;
      assert.ok(ref >= bytes(i) && ref < bytes(i) + 64 * 1024, `${id} references ${ref}`);
    }
    await d.close();
  });

  test("BtrfsDriver: remove() deletes subvolumes that sandbox code nested inside a layer", async () => {
    await using pool = await tempPool();
    const d = await BtrfsDriver.open(pool.root);
    await d.create("vol-a");
    await mkdir(join(d.writablePath("vol-a"), "deep"));
    await run(["btrfs", "subvolume", "create", join(d.writablePath("vol-a"), "deep", "inner")]);
    await run([
      "btrfs",
      "subvolume",
      "snapshot",
      "-r",
      join(d.writablePath("vol-a"), "deep", "inner"),
      join(d.writablePath("vol-a"), "ro"),
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

  /** A pool with vol-a holding "old" and snp-a holding "new", and the restore's paths. */
  async function restoreFixture() {
    const pool = await tempPool();
    const d = await BtrfsDriver.open(pool.root);
    await d.create("vol-a");
    await writeFile(join(d.writablePath("vol-a"), "f"), "new");
    await d.snapshot("vol-a", "snp-a");
    await writeFile(join(d.writablePath("vol-a"), "f"), "old");
    const next = join(pool.root, "tmp", "vol-a@restore");
    const replaced = join(pool.root, "trash", "vol-a@replaced");
    const content = () => readFile(join(d.writablePath("vol-a"), "f"), "utf8");
    const leftovers = async () => [
      ...(await readdir(join(pool.root, "tmp"))),
      ...(await readdir(join(pool.root, "trash"))),
    ];
    return { pool, d, next, replaced, content, leftovers };
  }

  test("BtrfsDriver: a restore interrupted before the swap is undone by cleanup()", async () => {
    const { pool, d, next, content, leftovers } = await restoreFixture();
    await using _ = pool;
    await run(["btrfs", "subvolume", "snapshot", join(pool.root, "readonly", "snp-a"), next]);
    assert.deepEqual(await d.list(), [
      { id: "vol-a", state: "writable" },
      { id: "snp-a", state: "readonly" },
    ]);
    assert.deepEqual(await d.cleanup(), ["vol-a@restore"]);
    assert.equal(await content(), "old");
    assert.deepEqual(await leftovers(), []);
  });

  test("BtrfsDriver: a restore interrupted after the old layer left is finished by cleanup()", async () => {
    const { pool, d, next, replaced, content, leftovers } = await restoreFixture();
    await using _ = pool;
    await run(["btrfs", "subvolume", "snapshot", join(pool.root, "readonly", "snp-a"), next]);
    await rename(d.writablePath("vol-a"), replaced);
    assert.equal(await d.has("vol-a"), false);
    await d.cleanup();
    assert.equal(await content(), "new");
    assert.deepEqual(await leftovers(), []);
  });

  test("BtrfsDriver: a restore interrupted before the old layer was deleted is finished by cleanup()", async () => {
    const { pool, d, next, replaced, content, leftovers } = await restoreFixture();
    await using _ = pool;
    await run(["btrfs", "subvolume", "snapshot", join(pool.root, "readonly", "snp-a"), next]);
    await rename(d.writablePath("vol-a"), replaced);
    await rename(next, d.writablePath("vol-a"));
    assert.deepEqual(await d.cleanup(), ["vol-a@replaced"]);
    assert.equal(await content(), "new");
    assert.deepEqual(await leftovers(), []);
  });

  test("BtrfsDriver: an old layer moved aside without its replacement is put back by cleanup()", async () => {
    const { pool, d, replaced, content, leftovers } = await restoreFixture();
    await using _ = pool;
    await rename(d.writablePath("vol-a"), replaced);
    await d.cleanup();
    assert.equal(await content(), "old");
    assert.deepEqual(await leftovers(), []);
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
