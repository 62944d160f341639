import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
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
}
