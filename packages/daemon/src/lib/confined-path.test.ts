import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ConfinedPathError, MAX_SYMLINKS, resolveConfined } from "./confined-path.ts";

describe("resolveConfined() on a tree planted with hostile symlinks", () => {
  let base: string;
  let root: string;
  let outside: string;
  before(async () => {
    base = await mkdtemp(join(tmpdir(), "strata-confined-"));
    root = join(base, "root");
    outside = join(base, "outside");
    await mkdir(outside);
    await writeFile(join(outside, "secret.txt"), "HOST SECRET");
    await mkdir(join(root, "etc"), { recursive: true });
    await mkdir(join(root, "dir/sub"), { recursive: true });
    await writeFile(join(root, "etc/passwd"), "tree passwd");
    await writeFile(join(root, "dir/file"), "in dir");
    await symlink("/etc/passwd", join(root, "abs"));
    await symlink("../../../../../../../../etc/passwd", join(root, "dir/sub/up"));
    await symlink(outside, join(root, "hostdir"));
    await symlink(join(outside, "secret.txt"), join(root, "hostfile"));
    await symlink("../outside/secret.txt", join(root, "rel-escape"));
    await symlink("loop2", join(root, "loop1"));
    await symlink("loop1", join(root, "loop2"));
    await symlink("dir", join(root, "dirlink"));
    await symlink("/", join(root, "slash"));
    for (let i = 0; i <= MAX_SYMLINKS; i++) {
      await symlink(i === 0 ? "/etc/passwd" : `chain${i - 1}`, join(root, `chain${i}`));
    }
  });
  after(async () => {
    await rm(base, { recursive: true, force: true });
  });

  const follow = { followFinal: true };
  const read = async (path: string) =>
    readFile((await resolveConfined(root, path, follow)).hostPath, "utf8");
  const fails = (path: string, code: string, followFinal = true) =>
    assert.rejects(resolveConfined(root, path, { followFinal }), (err: unknown) => {
      assert.ok(err instanceof ConfinedPathError, String(err));
      assert.equal(err.code, code);
      return true;
    });

  test("an absolute symlink target resolves inside the tree, not on the host", async () => {
    assert.equal(await read("/abs"), "tree passwd");
    assert.equal((await resolveConfined(root, "/abs", follow)).path, "/etc/passwd");
  });

  test("'..' in paths and in symlink targets stops at the tree's root", async () => {
    assert.equal(await read("/../../../etc/passwd"), "tree passwd");
    assert.equal(await read("/dir/sub/up"), "tree passwd");
    assert.equal(await read("/dirlink/../etc/passwd"), "tree passwd");
    assert.equal(await read("/slash/slash/etc/passwd"), "tree passwd");
  });

  test("a symlink to a host path that exists is not found inside the tree", async () => {
    await fails("/hostdir/secret.txt", "ENOENT");
    await fails("/hostfile", "ENOENT");
    await fails("/rel-escape", "ENOENT");
  });

  test("symlink loops fail with ELOOP, long chains within the limit resolve", async () => {
    await fails("/loop1", "ELOOP");
    await fails("/loop1/x", "ELOOP");
    assert.equal(await read(`/chain${MAX_SYMLINKS - 1}`), "tree passwd");
    await fails(`/chain${MAX_SYMLINKS}`, "ELOOP");
  });

  test("a file in the middle of a path fails with ENOTDIR; a missing entry with ENOENT", async () => {
    await fails("/etc/passwd/x", "ENOTDIR");
    await fails("/nope", "ENOENT");
    await fails("/dir/nope/x", "ENOENT");
  });

  test("a final symlink is described, not followed, when followFinal is false", async () => {
    const r = await resolveConfined(root, "/dirlink", { followFinal: false });
    assert.equal(r.stats.isSymbolicLink(), true);
    assert.equal(r.hostPath, join(root, "dirlink"));
    const followed = await resolveConfined(root, "/dirlink/", follow);
    assert.equal(followed.stats.isDirectory(), true);
    assert.equal(followed.hostPath, join(root, "dir"));
    assert.equal((await resolveConfined(root, "/", follow)).hostPath, root);
  });
});
