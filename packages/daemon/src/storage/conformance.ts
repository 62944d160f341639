import assert from "node:assert/strict";
import { mkdir, readFile, rename, rm, symlink, utimes, writeFile } from "node:fs/promises";
import { constants } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { LayerExistsError, LayerNotFoundError, type StorageDriver } from "./driver.ts";

/**
 * The conformance suite every storage driver passes: the lifecycle rules written in the
 * `StorageDriver` doc comment, checked on the real thing. `factory` gives a fresh driver
 * and a disposer per test.
 */
export function driverConformance(
  name: string,
  factory: () => Promise<{ driver: StorageDriver } & AsyncDisposable>,
): void {
  const it = (title: string, fn: (d: StorageDriver) => Promise<void>) =>
    test(`${name}: ${title}`, async () => {
      await using env = await factory();
      await fn(env.driver);
    });

  it("create() makes an empty writable layer at path()", async (d) => {
    await d.create("vol-a");
    assert.equal(await d.has("vol-a"), true);
    await writeFile(join(d.path("vol-a"), "f"), "hello");
    assert.equal(await readFile(join(d.path("vol-a"), "f"), "utf8"), "hello");
    assert.deepEqual(await d.list(), [{ id: "vol-a", state: "writable" }]);
  });

  it("create() fails with LayerExistsError when the id is taken", async (d) => {
    await d.create("vol-a");
    await assert.rejects(d.create("vol-a"), LayerExistsError);
    await d.snapshot("vol-a", "snp-a");
    await assert.rejects(d.create("snp-a"), LayerExistsError);
    await assert.rejects(d.snapshot("vol-a", "snp-a"), LayerExistsError);
  });

  it("create({from}) and snapshot() fail with LayerNotFoundError for a missing source", async (d) => {
    await assert.rejects(d.create("vol-b", { from: "nope" }), LayerNotFoundError);
    await assert.rejects(d.snapshot("nope", "snp-b"), LayerNotFoundError);
    assert.deepEqual(await d.list(), []);
  });

  it("pathOf() finds writable and read-only layers, and fails for missing ones", async (d) => {
    await d.create("vol-a");
    await writeFile(join(d.path("vol-a"), "f"), "x");
    await d.snapshot("vol-a", "snp-a");
    assert.equal(await d.pathOf("vol-a"), d.path("vol-a"));
    assert.equal(await readFile(join(await d.pathOf("snp-a"), "f"), "utf8"), "x");
    await assert.rejects(d.pathOf("nope"), LayerNotFoundError);
  });

  it("a snapshot is read-only and keeps the content of its instant", async (d) => {
    await d.create("vol-a");
    await writeFile(join(d.path("vol-a"), "f"), "v1");
    await d.snapshot("vol-a", "snp-a");
    await writeFile(join(d.path("vol-a"), "f"), "v2");
    const entries = await d.list();
    assert.deepEqual(
      entries.find((e) => e.id === "snp-a"),
      { id: "snp-a", state: "readonly" },
    );
    const forked = "vol-f";
    await d.create(forked, { from: "snp-a" });
    assert.equal(await readFile(join(d.path(forked), "f"), "utf8"), "v1");
  });

  it("a fork is independent of its snapshot, and survives the snapshot's removal", async (d) => {
    await d.create("vol-a");
    await writeFile(join(d.path("vol-a"), "f"), "base");
    await d.snapshot("vol-a", "snp-a");
    await d.create("vol-b", { from: "snp-a" });
    await writeFile(join(d.path("vol-b"), "f"), "changed");
    await d.create("vol-c", { from: "snp-a" });
    assert.equal(await readFile(join(d.path("vol-c"), "f"), "utf8"), "base");
    await d.remove("snp-a");
    assert.equal(await d.has("snp-a"), false);
    assert.equal(await readFile(join(d.path("vol-b"), "f"), "utf8"), "changed");
  });

  it("trash() takes a layer out of reach and remove() deletes it; remove() is idempotent", async (d) => {
    await d.create("vol-a");
    await d.trash("vol-a");
    assert.equal(await d.has("vol-a"), false);
    assert.deepEqual(await d.list(), [{ id: "vol-a", state: "trash" }]);
    await d.remove("vol-a");
    await d.remove("vol-a");
    assert.deepEqual(await d.list(), []);
  });

  it("usage() reports referenced and exclusive bytes per layer", async (d) => {
    await d.create("vol-a");
    await writeFile(join(d.path("vol-a"), "big"), Buffer.alloc(8 * 1024 * 1024, 7));
    await d.snapshot("vol-a", "snp-a");
    const u = await d.usage();
    const vol = u.get("vol-a");
    const snp = u.get("snp-a");
    assert.ok(
      vol && vol.referencedBytes >= 8 * 1024 * 1024,
      `volume references ${vol?.referencedBytes}`,
    );
    assert.ok(
      snp && snp.referencedBytes >= 8 * 1024 * 1024,
      `snapshot references ${snp?.referencedBytes}`,
    );
    if (d.info.cheapClone)
      assert.ok(snp.exclusiveBytes < 1024 * 1024, "a fresh snapshot shares its data");
  });

  it("a capacity is enforced by the filesystem when the driver has quotas", async (d) => {
    if (!d.info.quotas) return;
    await d.create("vol-a", { capacityBytes: 4 * 1024 * 1024 });
    await assert.rejects(
      writeFile(join(d.path("vol-a"), "big"), Buffer.alloc(16 * 1024 * 1024, 1)),
      {
        // libuv has no name for EDQUOT, so match the number.
        errno: -constants.errno.EDQUOT,
      },
    );
    await d.setCapacity("vol-a", null);
    await writeFile(join(d.path("vol-a"), "big"), Buffer.alloc(16 * 1024 * 1024, 1));
  });

  it("a clone's size and capacity cover what it inherited, through clones of clones", async (d) => {
    if (!d.info.quotas) return;
    const MiB = 1024 * 1024;
    await d.create("vol-a");
    await writeFile(join(d.path("vol-a"), "big"), Buffer.alloc(8 * MiB, 3));
    await d.snapshot("vol-a", "snp-a");
    await d.create("vol-b", { from: "snp-a", capacityBytes: 12 * MiB });
    await d.create("vol-c", { from: "vol-a" });
    let u = await d.usage();
    for (const id of ["snp-a", "vol-b", "vol-c"]) {
      const ref = u.get(id)?.referencedBytes ?? 0;
      assert.ok(ref >= 8 * MiB && ref < 10 * MiB, `${id} references ${ref}`);
    }
    // 8 MiB inherited + 2 MiB written fit in 12 MiB; 8 MiB more do not.
    await writeFile(join(d.path("vol-b"), "more"), Buffer.alloc(2 * MiB, 4));
    await assert.rejects(writeFile(join(d.path("vol-b"), "too-much"), Buffer.alloc(8 * MiB, 5)), {
      errno: -constants.errno.EDQUOT,
    });
    await rm(join(d.path("vol-b"), "too-much"), { force: true });
    await d.snapshot("vol-b", "snp-b");
    await d.setCapacity("vol-b", 64 * MiB);
    await writeFile(join(d.path("vol-b"), "later"), Buffer.alloc(8 * MiB, 6));
    u = await d.usage();
    const snpB = u.get("snp-b")?.referencedBytes ?? 0;
    assert.ok(snpB >= 10 * MiB && snpB < 12 * MiB, `snp-b references ${snpB}`);
    assert.ok((u.get("vol-b")?.referencedBytes ?? 0) >= 18 * MiB, "vol-b counts its new file");
  });

  it("remove() deletes writable and read-only layers with their content", async (d) => {
    await d.create("vol-a");
    await writeFile(join(d.path("vol-a"), "x"), "x");
    await d.snapshot("vol-a", "snp-a");
    await d.remove("vol-a");
    await d.remove("snp-a");
    assert.deepEqual(await d.list(), []);
    assert.equal((await d.usage()).size, 0);
  });

  it("cleanup() removes leftovers of interrupted creations", async (d) => {
    assert.deepEqual(await d.cleanup(), []);
  });

  it("restore() puts a snapshot's content back in place, keeping id, path and capacity", async (d) => {
    await d.create("vol-a", { capacityBytes: 64 * 1024 * 1024 });
    await writeFile(join(d.path("vol-a"), "f"), "v1");
    await d.snapshot("vol-a", "snp-a");
    await writeFile(join(d.path("vol-a"), "f"), "v2");
    await writeFile(join(d.path("vol-a"), "g"), "later");
    await d.restore("vol-a", "snp-a", { capacityBytes: 4 * 1024 * 1024 });
    assert.equal(await readFile(join(d.path("vol-a"), "f"), "utf8"), "v1");
    await assert.rejects(readFile(join(d.path("vol-a"), "g")), { code: "ENOENT" });
    // The restored layer is writable and independent of the snapshot.
    await writeFile(join(d.path("vol-a"), "f"), "v3");
    await d.create("vol-b", { from: "snp-a" });
    assert.equal(await readFile(join(d.path("vol-b"), "f"), "utf8"), "v1");
    assert.deepEqual((await d.list()).map((e) => `${e.state}:${e.id}`).sort(), [
      "readonly:snp-a",
      "writable:vol-a",
      "writable:vol-b",
    ]);
    if (d.info.quotas) {
      await assert.rejects(
        writeFile(join(d.path("vol-a"), "big"), Buffer.alloc(16 * 1024 * 1024, 1)),
        { errno: -constants.errno.EDQUOT },
      );
    }
  });

  it("restore() fails with LayerNotFoundError for a missing layer or snapshot, changing nothing", async (d) => {
    await d.create("vol-a");
    await writeFile(join(d.path("vol-a"), "f"), "kept");
    await d.snapshot("vol-a", "snp-a");
    await assert.rejects(d.restore("vol-a", "nope"), LayerNotFoundError);
    await assert.rejects(d.restore("nope", "snp-a"), LayerNotFoundError);
    await assert.rejects(d.restore("vol-a", "vol-a"), /not read-only/);
    assert.equal(await readFile(join(d.path("vol-a"), "f"), "utf8"), "kept");
    assert.deepEqual(await d.cleanup(), []);
  });

  it("diff() lists added, removed and changed paths; times alone and unchanged paths never count", async (d) => {
    await d.create("vol-a");
    const v = d.path("vol-a");
    await mkdir(join(v, "dir/sub"), { recursive: true });
    await writeFile(join(v, "dir/keep"), "same");
    await writeFile(join(v, "dir/edit"), "v1");
    await writeFile(join(v, "dir/sub/deep"), "x");
    await writeFile(join(v, "gone"), "x");
    await writeFile(join(v, "touched"), "x");
    await d.snapshot("vol-a", "snp-1");
    await writeFile(join(v, "dir/edit"), "v2");
    await rm(join(v, "gone"));
    await writeFile(join(v, "new file"), "x");
    await utimes(join(v, "touched"), new Date(1e12), new Date(1e12));
    await rename(join(v, "dir/sub"), join(v, "dir/moved"));
    // A hostile rename: a symlink to a host folder moved; the host folder is never listed.
    await symlink("/etc", join(v, "link"));
    await d.snapshot("vol-a", "snp-2");
    await rename(join(v, "link"), join(v, "link2"));
    await d.snapshot("vol-a", "snp-3");

    assert.deepEqual(await d.diff("snp-1", "snp-2"), {
      added: ["/dir/moved", "/dir/moved/deep", "/link", "/new file"],
      removed: ["/dir/sub", "/dir/sub/deep", "/gone"],
      changed: ["/dir/edit"],
      truncated: false,
    });
    assert.deepEqual(await d.diff("snp-2", "snp-3"), {
      added: ["/link2"],
      removed: ["/link"],
      changed: [],
      truncated: false,
    });
    assert.deepEqual(await d.diff("snp-2", "snp-2"), {
      added: [],
      removed: [],
      changed: [],
      truncated: false,
    });
    const cut = await d.diff("snp-1", "snp-2", { limit: 1 });
    assert.deepEqual(cut.added, ["/dir/moved"]);
    assert.equal(cut.truncated, true);
  });

  it("diff() works between read-only layers with no common ancestor, and refuses writable ones", async (d) => {
    await d.create("vol-a");
    await writeFile(join(d.path("vol-a"), "a"), "x");
    await d.create("vol-b");
    await writeFile(join(d.path("vol-b"), "b"), "x");
    await d.snapshot("vol-a", "snp-a");
    await d.snapshot("vol-b", "snp-b");
    const diff = await d.diff("snp-a", "snp-b");
    assert.deepEqual(diff.added, ["/b"]);
    assert.deepEqual(diff.removed, ["/a"]);
    await assert.rejects(d.diff("snp-a", "vol-a"), /not read-only/);
    await assert.rejects(d.diff("snp-a", "nope"), LayerNotFoundError);
  });
}
