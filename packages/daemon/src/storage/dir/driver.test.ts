import assert from "node:assert/strict";
import {
  chmod,
  chown,
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  rename,
  symlink,
  writeFile,
} from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { run } from "../../lib/exec.ts";
import { tempDirDriver } from "../../testing/dir-fixture.ts";
import { driverConformance } from "../conformance.ts";
import { DirDriver } from "./driver.ts";

const isRoot = process.getuid?.() === 0;

driverConformance("DirDriver", { info: DirDriver.info, open: tempDirDriver });

test("DirDriver: a clone copies modes, owners where permitted, fifos and symlinks as links, never following one", async () => {
  await using storage = await tempDirDriver();
  // Stands for a host folder; a bug that follows the link can only harm this one.
  const host = join(storage.root, "host-folder");
  await mkdir(host);
  await writeFile(join(host, "secret"), "host");
  const d = storage.driver;
  await d.create("vol-a");
  const a = d.writablePath("vol-a");
  await mkdir(join(a, "dir"), { mode: 0o750 });
  await writeFile(join(a, "dir/secret"), "s", { mode: 0o640 });
  await chmod(join(a, "dir/secret"), 0o640);
  await symlink(host, join(a, "host"));
  await run(["mkfifo", join(a, "pipe")]);
  if (isRoot) await chown(join(a, "dir/secret"), 1234, 4321);
  await d.snapshot("vol-a", "snp-a");
  await d.create("vol-b", { from: "snp-a" });
  for (const layer of [await d.livePath("snp-a"), d.writablePath("vol-b")]) {
    assert.equal((await lstat(join(layer, "dir"))).mode & 0o7777, 0o750);
    const secret = await lstat(join(layer, "dir/secret"));
    assert.equal(secret.mode & 0o7777, 0o640);
    if (isRoot) assert.deepEqual([secret.uid, secret.gid], [1234, 4321]);
    assert.ok((await lstat(join(layer, "host"))).isSymbolicLink());
    assert.equal(await readlink(join(layer, "host")), host);
    assert.ok((await lstat(join(layer, "pipe"))).isFIFO());
  }
  // Nothing of the host folder the link names came along.
  assert.deepEqual((await readdir(d.writablePath("vol-b"))).sort(), ["dir", "host", "pipe"]);
});

test("DirDriver: an empty layer's top folder belongs to the owner asked for, where permitted", async () => {
  await using storage = await tempDirDriver();
  const d = storage.driver;
  await d.create("vol-a", { owner: { uid: 1234, gid: 4321 } });
  const top = await lstat(d.writablePath("vol-a"));
  if (isRoot) assert.deepEqual([top.uid, top.gid], [1234, 4321]);
  else assert.equal(top.uid, process.getuid?.());
  assert.equal(top.mode & 0o7777, 0o755);
});

test("DirDriver: as root, a read-only layer refuses writes even to root, and remove() still deletes it", {
  skip: isRoot ? false : "only root can make files immutable",
}, async () => {
  await using storage = await tempDirDriver();
  const d = storage.driver;
  await d.create("vol-a");
  await mkdir(join(d.writablePath("vol-a"), "dir"));
  await writeFile(join(d.writablePath("vol-a"), "dir/f"), "x");
  await d.snapshot("vol-a", "snp-a");
  const snp = await d.livePath("snp-a");
  await assert.rejects(writeFile(join(snp, "dir/f"), "y"), { code: "EPERM" });
  await assert.rejects(writeFile(join(snp, "new"), "y"), { code: "EPERM" });
  await d.remove("snp-a");
  assert.deepEqual(await d.list(), [{ id: "vol-a", state: "writable" }]);
});

test("DirDriver: remove() deletes a layer whose folders its content made read-only", async () => {
  await using storage = await tempDirDriver();
  const d = storage.driver;
  await d.create("vol-a");
  await mkdir(join(d.writablePath("vol-a"), "locked"));
  await writeFile(join(d.writablePath("vol-a"), "locked/f"), "x");
  await chmod(join(d.writablePath("vol-a"), "locked"), 0o555);
  await chmod(d.writablePath("vol-a"), 0o555);
  await d.create("vol-b", { from: "vol-a" });
  await d.trash("vol-b");
  await d.remove("vol-b");
  await d.remove("vol-a");
  assert.deepEqual(await d.list(), []);
});

test("DirDriver: a read-only layer whose record was lost is measured once more on usage()", async () => {
  await using storage = await tempDirDriver();
  await storage.driver.create("vol-a");
  await writeFile(join(storage.driver.writablePath("vol-a"), "f"), Buffer.alloc(1024 * 1024, 1));
  await storage.driver.snapshot("vol-a", "snp-a");
  const recorded = (await storage.driver.usage(["snp-a"])).get("snp-a");
  await run(["rm", join(storage.root, "meta", "snp-a")]);
  const again = await DirDriver.open(storage.root);
  assert.deepEqual((await again.usage(["snp-a"])).get("snp-a"), recorded);
  assert.deepEqual(await readdir(join(storage.root, "meta")), ["snp-a"]);
});

test("DirDriver: cleanup() deletes half-made layers left in tmp by a crash, with their records", async () => {
  await using storage = await tempDirDriver();
  await mkdir(join(storage.root, "tmp", "snp-crashed", "fs"), { recursive: true });
  await writeFile(join(storage.root, "tmp", "snp-crashed", "fs", "f"), "x");
  await writeFile(join(storage.root, "meta", "snp-crashed"), '{"referencedBytes":4096}');
  await writeFile(join(storage.root, "meta", "snp-gone"), '{"referencedBytes":4096}');
  const d = await DirDriver.open(storage.root);
  assert.deepEqual(await d.cleanup(), ["snp-crashed"]);
  assert.deepEqual(await readdir(join(storage.root, "tmp")), []);
  assert.deepEqual(await readdir(join(storage.root, "meta")), []);
});

/** A driver with vol-a holding "old" and snp-a holding "new", and a restore's entries. */
async function restoreFixture() {
  const storage = await tempDirDriver();
  const d = storage.driver;
  await d.create("vol-a");
  await writeFile(join(d.writablePath("vol-a"), "f"), "new");
  await d.snapshot("vol-a", "snp-a");
  await writeFile(join(d.writablePath("vol-a"), "f"), "old");
  const live = join(storage.root, "writable", "vol-a");
  const next = join(storage.root, "tmp", "vol-a@restore");
  const replaced = join(storage.root, "trash", "vol-a@replaced");
  /** Step 1 of a restore: the snapshot's copy in tmp. */
  const copy = async () => {
    await mkdir(next);
    await run(["cp", "-a", "-T", await d.livePath("snp-a"), join(next, "fs")]);
  };
  const content = () => readFile(join(d.writablePath("vol-a"), "f"), "utf8");
  const leftovers = async () => [
    ...(await readdir(join(storage.root, "tmp"))),
    ...(await readdir(join(storage.root, "trash"))),
  ];
  return { storage, d, live, next, replaced, copy, content, leftovers };
}

test("DirDriver: a restore interrupted before the swap is undone by cleanup()", async () => {
  const { storage, d, copy, content, leftovers } = await restoreFixture();
  await using _ = storage;
  await copy();
  assert.deepEqual(await d.list(), [
    { id: "vol-a", state: "writable" },
    { id: "snp-a", state: "readonly" },
  ]);
  assert.deepEqual(await d.cleanup(), ["vol-a@restore"]);
  assert.equal(await content(), "old");
  assert.deepEqual(await leftovers(), []);
});

test("DirDriver: a restore interrupted after the old layer left is finished by cleanup()", async () => {
  const { storage, d, live, replaced, copy, content, leftovers } = await restoreFixture();
  await using _ = storage;
  await copy();
  await rename(live, replaced);
  assert.equal(await d.has("vol-a"), false);
  await d.cleanup();
  assert.equal(await content(), "new");
  assert.deepEqual(await leftovers(), []);
});

test("DirDriver: a restore interrupted before the old layer was deleted is finished by cleanup()", async () => {
  const { storage, d, live, next, replaced, copy, content, leftovers } = await restoreFixture();
  await using _ = storage;
  await copy();
  await rename(live, replaced);
  await rename(next, live);
  assert.deepEqual(await d.cleanup(), ["vol-a@replaced"]);
  assert.equal(await content(), "new");
  assert.deepEqual(await leftovers(), []);
});

test("DirDriver: an old layer moved aside without its replacement is put back by cleanup()", async () => {
  const { storage, d, live, replaced, content, leftovers } = await restoreFixture();
  await using _ = storage;
  await rename(live, replaced);
  await d.cleanup();
  assert.equal(await content(), "old");
  assert.deepEqual(await leftovers(), []);
});
