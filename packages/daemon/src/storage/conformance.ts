import assert from "node:assert/strict";
import {
  chmod,
  mkdir,
  mkdtemp,
  open,
  readdir,
  readFile,
  rename,
  rm,
  symlink,
  utimes,
  writeFile,
} from "node:fs/promises";
import { constants, tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  LayerExistsError,
  LayerNotFoundError,
  type StorageDriver,
  type StorageInfo,
} from "./driver.ts";

const MiB = 1024 * 1024;

/**
 * A folder outside the pool that stands for the host's files: the hostile symlinks of the
 * tests point at it (never at a real host folder), and it must come through intact.
 */
async function hostFolder(): Promise<
  { path: string; intact: () => Promise<void> } & AsyncDisposable
> {
  const path = await mkdtemp(join(tmpdir(), "strata-host-"));
  await writeFile(join(path, "secret"), "host");
  return {
    path,
    intact: async () => {
      assert.deepEqual(await readdir(path), ["secret"], "the host folder keeps its files");
      assert.equal(await readFile(join(path, "secret"), "utf8"), "host");
    },
    [Symbol.asyncDispose]: () => rm(path, { recursive: true, force: true }),
  };
}

export interface ConformanceOptions {
  /**
   * What the driver declares (its `info`): tests of a capability it does not declare are
   * skipped, and a test checks that every driver it opens says the same.
   */
  info: StorageInfo;
  /** A fresh driver on an empty pool, and the disposer that removes both. */
  open: () => Promise<{ driver: StorageDriver } & AsyncDisposable>;
}

/**
 * The conformance suite every storage driver passes: the lifecycle rules written in the
 * `StorageDriver` doc comment, checked on the real thing. The suite branches on the
 * declared capabilities (`info`), never on a driver's name.
 */
export function driverConformance(name: string, options: ConformanceOptions): void {
  type Capability = "quotas" | "cheapClone";
  const it = (title: string, fn: (d: StorageDriver) => Promise<void>, needs?: Capability) =>
    test(`${name}: ${title}`, {
      skip: needs && !options.info[needs] ? `the driver declares no ${needs}` : false,
    }, async () => {
      await using env = await options.open();
      await fn(env.driver);
    });

  it("info says what the driver declared", async (d) => {
    assert.deepEqual(
      { quotas: d.info.quotas, cheapClone: d.info.cheapClone },
      { quotas: options.info.quotas, cheapClone: options.info.cheapClone },
    );
  });

  it("create() makes an empty writable layer at writablePath()", async (d) => {
    await d.create("vol-a");
    assert.equal(await d.has("vol-a"), true);
    await writeFile(join(d.writablePath("vol-a"), "f"), "hello");
    assert.equal(await readFile(join(d.writablePath("vol-a"), "f"), "utf8"), "hello");
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

  it("livePath() finds writable and read-only layers, and fails for missing ones", async (d) => {
    await d.create("vol-a");
    await writeFile(join(d.writablePath("vol-a"), "f"), "x");
    await d.snapshot("vol-a", "snp-a");
    assert.equal(await d.livePath("vol-a"), d.writablePath("vol-a"));
    assert.equal(await readFile(join(await d.livePath("snp-a"), "f"), "utf8"), "x");
    await assert.rejects(d.livePath("nope"), LayerNotFoundError);
  });

  it("a snapshot is read-only and keeps the content of its instant", async (d) => {
    await d.create("vol-a");
    await writeFile(join(d.writablePath("vol-a"), "f"), "v1");
    await d.snapshot("vol-a", "snp-a");
    await writeFile(join(d.writablePath("vol-a"), "f"), "v2");
    const entries = await d.list();
    assert.deepEqual(
      entries.find((e) => e.id === "snp-a"),
      { id: "snp-a", state: "readonly" },
    );
    const forked = "vol-f";
    await d.create(forked, { from: "snp-a" });
    assert.equal(await readFile(join(d.writablePath(forked), "f"), "utf8"), "v1");
  });

  it("a fork is independent of its snapshot, and survives the snapshot's removal", async (d) => {
    await d.create("vol-a");
    await writeFile(join(d.writablePath("vol-a"), "f"), "base");
    await d.snapshot("vol-a", "snp-a");
    await d.create("vol-b", { from: "snp-a" });
    await writeFile(join(d.writablePath("vol-b"), "f"), "changed");
    await d.create("vol-c", { from: "snp-a" });
    assert.equal(await readFile(join(d.writablePath("vol-c"), "f"), "utf8"), "base");
    await d.remove("snp-a");
    assert.equal(await d.has("snp-a"), false);
    assert.equal(await readFile(join(d.writablePath("vol-b"), "f"), "utf8"), "changed");
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
    await writeFile(join(d.writablePath("vol-a"), "big"), Buffer.alloc(8 * MiB, 7));
    await d.snapshot("vol-a", "snp-a");
    const u = await d.usage(["vol-a", "snp-a"]);
    const vol = u.get("vol-a");
    const snp = u.get("snp-a");
    assert.ok(vol && vol.referencedBytes >= 8 * MiB, `volume references ${vol?.referencedBytes}`);
    assert.ok(snp && snp.referencedBytes >= 8 * MiB, `snapshot references ${snp?.referencedBytes}`);
    if (d.info.cheapClone) assert.ok(snp.exclusiveBytes < MiB, "a fresh snapshot shares its data");
    else assert.equal(snp.exclusiveBytes, snp.referencedBytes, "a copy shares nothing");
  });

  it("usage() answers exactly the live layers asked for", async (d) => {
    await d.create("vol-a");
    await d.create("vol-b");
    await d.create("vol-t");
    await d.snapshot("vol-a", "snp-a");
    await d.trash("vol-t");
    const keys = async (ids: string[]) => [...(await d.usage(ids)).keys()].sort();
    assert.deepEqual(await keys(["snp-a", "vol-a", "nope"]), ["snp-a", "vol-a"]);
    assert.deepEqual(await keys(["vol-b"]), ["vol-b"]);
    assert.deepEqual(await keys(["vol-b", "vol-b"]), ["vol-b"]);
    assert.deepEqual(await keys(["vol-t", "nope"]), [], "trashed and unknown layers are absent");
    assert.deepEqual(await keys([]), []);
  });

  it("a snapshot's size is recorded when it is made: it is its content, and never changes", async (d) => {
    await d.create("vol-a");
    const content = 8 * MiB;
    await writeFile(join(d.writablePath("vol-a"), "big"), Buffer.alloc(content, 7));
    const source = (await d.usage(["vol-a"])).get("vol-a")?.referencedBytes ?? 0;
    await d.snapshot("vol-a", "snp-a");
    const at = (await d.usage(["snp-a"])).get("snp-a")?.referencedBytes ?? 0;
    assert.ok(at >= content && at < content + MiB, `snp-a references ${at}`);
    assert.ok(Math.abs(at - source) < MiB, `snp-a references ${at}, its source ${source}`);
    // Whatever happens to its source, the snapshot keeps its size.
    await writeFile(join(d.writablePath("vol-a"), "big"), Buffer.alloc(2 * content, 8));
    await writeFile(join(d.writablePath("vol-a"), "more"), Buffer.alloc(content, 9));
    assert.equal((await d.usage(["snp-a"])).get("snp-a")?.referencedBytes, at);
    await d.remove("vol-a");
    assert.equal((await d.usage(["snp-a"])).get("snp-a")?.referencedBytes, at);
    // A snapshot of a snapshot has the same content, and so the same size.
    await d.snapshot("snp-a", "snp-b");
    const copy = (await d.usage(["snp-b"])).get("snp-b")?.referencedBytes ?? 0;
    assert.ok(Math.abs(copy - at) < MiB, `snp-b references ${copy}, snp-a ${at}`);
  });

  it(
    "a capacity is enforced by the filesystem",
    async (d) => {
      await d.create("vol-a", { capacityBytes: 4 * 1024 * 1024 });
      await assert.rejects(
        writeFile(join(d.writablePath("vol-a"), "big"), Buffer.alloc(16 * 1024 * 1024, 1)),
        {
          // libuv has no name for EDQUOT, so match the number.
          errno: -constants.errno.EDQUOT,
        },
      );
      await d.setCapacity("vol-a", null);
      await writeFile(join(d.writablePath("vol-a"), "big"), Buffer.alloc(16 * 1024 * 1024, 1));
    },
    "quotas",
  );

  it("setCapacity() changes and lifts a capacity, and fails with LayerNotFoundError for a missing layer", async (d) => {
    await d.create("vol-a", { capacityBytes: 4 * MiB });
    await d.setCapacity("vol-a", 8 * MiB);
    await d.setCapacity("vol-a", null);
    await assert.rejects(d.setCapacity("nope", MiB), LayerNotFoundError);
  });

  it(
    "a clone's size and capacity cover what it inherited, through clones of clones",
    async (d) => {
      await d.create("vol-a");
      await writeFile(join(d.writablePath("vol-a"), "big"), Buffer.alloc(8 * MiB, 3));
      await d.snapshot("vol-a", "snp-a");
      await d.create("vol-b", { from: "snp-a", capacityBytes: 12 * MiB });
      await d.create("vol-c", { from: "vol-a" });
      let u = await d.usage(["snp-a", "vol-b", "vol-c"]);
      for (const id of ["snp-a", "vol-b", "vol-c"]) {
        const ref = u.get(id)?.referencedBytes ?? 0;
        assert.ok(ref >= 8 * MiB && ref < 10 * MiB, `${id} references ${ref}`);
      }
      // 8 MiB inherited + 2 MiB written fit in 12 MiB; 8 MiB more do not.
      await writeFile(join(d.writablePath("vol-b"), "more"), Buffer.alloc(2 * MiB, 4));
      await assert.rejects(
        writeFile(join(d.writablePath("vol-b"), "too-much"), Buffer.alloc(8 * MiB, 5)),
        {
          errno: -constants.errno.EDQUOT,
        },
      );
      await rm(join(d.writablePath("vol-b"), "too-much"), { force: true });
      await d.snapshot("vol-b", "snp-b");
      await d.setCapacity("vol-b", 64 * MiB);
      await writeFile(join(d.writablePath("vol-b"), "later"), Buffer.alloc(8 * MiB, 6));
      u = await d.usage(["snp-b", "vol-b"]);
      const snpB = u.get("snp-b")?.referencedBytes ?? 0;
      assert.ok(snpB >= 10 * MiB && snpB < 12 * MiB, `snp-b references ${snpB}`);
      assert.ok((u.get("vol-b")?.referencedBytes ?? 0) >= 18 * MiB, "vol-b counts its new file");
    },
    "quotas",
  );

  it(
    "snapshot() and create({from}) take the same time whatever the size of the data",
    async (d) => {
      await d.create("vol-small");
      await d.create("vol-big");
      const big = Buffer.alloc(16 * MiB, 5);
      for (let i = 0; i < 16; i++) {
        const fh = await open(join(d.writablePath("vol-big"), `f${i}`), "w");
        await fh.writeFile(big);
        await fh.sync();
        await fh.close();
      }
      // The least of several interleaved runs: the machine's noise only ever adds time.
      const best = { small: Infinity, big: Infinity };
      for (let round = 0; round < 5; round++) {
        for (const size of ["small", "big"] as const) {
          const started = performance.now();
          await d.snapshot(`vol-${size}`, `snp-${size}-${round}`);
          await d.create(`vol-${size}-${round}`, { from: `vol-${size}` });
          best[size] = Math.min(best[size], performance.now() - started);
        }
      }
      assert.ok(
        best.big < 3 * best.small + 100,
        `256 MiB took ${best.big.toFixed(1)} ms, nothing ${best.small.toFixed(1)} ms`,
      );
    },
    "cheapClone",
  );

  it("remove() deletes writable and read-only layers with their content", async (d) => {
    await d.create("vol-a");
    await writeFile(join(d.writablePath("vol-a"), "x"), "x");
    await d.snapshot("vol-a", "snp-a");
    await d.remove("vol-a");
    await d.remove("snp-a");
    assert.deepEqual(await d.list(), []);
    assert.equal((await d.usage(["vol-a", "snp-a"])).size, 0);
  });

  it("cleanup() removes leftovers of interrupted creations", async (d) => {
    assert.deepEqual(await d.cleanup(), []);
  });

  it("restore() puts a snapshot's content back in place, keeping id, path and capacity", async (d) => {
    await d.create("vol-a", { capacityBytes: 64 * 1024 * 1024 });
    await writeFile(join(d.writablePath("vol-a"), "f"), "v1");
    await d.snapshot("vol-a", "snp-a");
    await writeFile(join(d.writablePath("vol-a"), "f"), "v2");
    await writeFile(join(d.writablePath("vol-a"), "g"), "later");
    await d.restore("vol-a", "snp-a", { capacityBytes: 4 * 1024 * 1024 });
    assert.equal(await readFile(join(d.writablePath("vol-a"), "f"), "utf8"), "v1");
    await assert.rejects(readFile(join(d.writablePath("vol-a"), "g")), { code: "ENOENT" });
    // The restored layer is writable and independent of the snapshot.
    await writeFile(join(d.writablePath("vol-a"), "f"), "v3");
    await d.create("vol-b", { from: "snp-a" });
    assert.equal(await readFile(join(d.writablePath("vol-b"), "f"), "utf8"), "v1");
    assert.deepEqual((await d.list()).map((e) => `${e.state}:${e.id}`).sort(), [
      "readonly:snp-a",
      "writable:vol-a",
      "writable:vol-b",
    ]);
    if (d.info.quotas) {
      await assert.rejects(
        writeFile(join(d.writablePath("vol-a"), "big"), Buffer.alloc(16 * 1024 * 1024, 1)),
        { errno: -constants.errno.EDQUOT },
      );
    }
  });

  it("restore() fails with LayerNotFoundError for a missing layer or snapshot, changing nothing", async (d) => {
    await d.create("vol-a");
    await writeFile(join(d.writablePath("vol-a"), "f"), "kept");
    await d.snapshot("vol-a", "snp-a");
    await assert.rejects(d.restore("vol-a", "nope"), LayerNotFoundError);
    await assert.rejects(d.restore("nope", "snp-a"), LayerNotFoundError);
    await assert.rejects(d.restore("vol-a", "vol-a"), /not read-only/);
    assert.equal(await readFile(join(d.writablePath("vol-a"), "f"), "utf8"), "kept");
    assert.deepEqual(await d.cleanup(), []);
  });

  it("diff() lists added, removed and changed paths; times alone and unchanged paths never count", async (d) => {
    await d.create("vol-a");
    const v = d.writablePath("vol-a");
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
    await using host = await hostFolder();
    await symlink(host.path, join(v, "link"));
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
    for (const id of ["snp-2", "snp-3", "vol-a"]) await d.remove(id);
    await host.intact();
  });

  it("no method reaches through a symlink a layer holds: the folder it names survives everything", async (d) => {
    await using host = await hostFolder();
    await d.create("vol-a");
    const v = d.writablePath("vol-a");
    await mkdir(join(v, "deep/er"), { recursive: true });
    await symlink(host.path, join(v, "link"));
    await symlink(host.path, join(v, "deep/er/link"));
    await symlink(join(host.path, "secret"), join(v, "file-link"));
    await d.snapshot("vol-a", "snp-a");
    await d.create("vol-b", { from: "snp-a" });
    await d.snapshot("vol-b", "snp-b");
    await d.restore("vol-a", "snp-b");
    assert.deepEqual((await d.diff("snp-a", "snp-b")).added, []);
    await d.trash("vol-b");
    for (const id of ["vol-b", "snp-b", "snp-a", "vol-a"]) await d.remove(id);
    assert.deepEqual(await d.list(), []);
    await host.intact();
  });

  it("diff() counts a new mode, link target, content of the same size or type as a change", async (d) => {
    await d.create("vol-a");
    const v = d.writablePath("vol-a");
    await writeFile(join(v, "mode"), "x");
    await symlink("/a", join(v, "link"));
    await writeFile(join(v, "same-size"), "aaaa");
    await writeFile(join(v, "was-file"), "x");
    await mkdir(join(v, "was-dir"));
    await writeFile(join(v, "was-dir/inner"), "x");
    await d.snapshot("vol-a", "snp-1");
    await chmod(join(v, "mode"), 0o600);
    await rm(join(v, "link"));
    await symlink("/b", join(v, "link"));
    await writeFile(join(v, "same-size"), "bbbb");
    await rm(join(v, "was-file"));
    await mkdir(join(v, "was-file"));
    await writeFile(join(v, "was-file/child"), "x");
    await rm(join(v, "was-dir"), { recursive: true });
    await writeFile(join(v, "was-dir"), "x");
    await d.snapshot("vol-a", "snp-2");
    assert.deepEqual(await d.diff("snp-1", "snp-2"), {
      added: ["/was-file/child"],
      removed: ["/was-dir/inner"],
      changed: ["/link", "/mode", "/same-size", "/was-dir", "/was-file"],
      truncated: false,
    });
  });

  it("diff() works between read-only layers with no common ancestor, and refuses writable ones", async (d) => {
    await d.create("vol-a");
    await writeFile(join(d.writablePath("vol-a"), "a"), "x");
    await d.create("vol-b");
    await writeFile(join(d.writablePath("vol-b"), "b"), "x");
    await d.snapshot("vol-a", "snp-a");
    await d.snapshot("vol-b", "snp-b");
    const diff = await d.diff("snp-a", "snp-b");
    assert.deepEqual(diff.added, ["/b"]);
    assert.deepEqual(diff.removed, ["/a"]);
    await assert.rejects(d.diff("snp-a", "vol-a"), /not read-only/);
    await assert.rejects(d.diff("snp-a", "nope"), LayerNotFoundError);
  });
}
