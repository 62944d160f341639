import { constants, type Stats } from "node:fs";
import { lstat, open, readdir, readlink } from "node:fs/promises";
import { join } from "node:path";
import type { LayerDiff } from "../driver.ts";

interface Found {
  added: string[];
  removed: string[];
  changed: string[];
}

/**
 * The difference between two trees, by walking both: O(size), which is what a driver
 * without copy-on-write metadata can do. Paths present in one tree only are added or
 * removed with everything under them; paths in both count as changed when their type,
 * mode, owner, device, link target, size or bytes differ (times never count; a folder is
 * changed only by its own mode or owner). Extended attributes are not compared: Node has
 * no call to read them. Symlinks are read as links and never followed.
 */
export async function diffTrees(
  base: string,
  target: string,
  options: { limit?: number | undefined } = {},
): Promise<LayerDiff> {
  const found: Found = { added: [], removed: [], changed: [] };
  const [b, t] = await Promise.all([lstat(base), lstat(target)]);
  if (await differs({ base, target }, b, t)) found.changed.push("");
  await compareFolders({ base, target }, "", found);
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  let truncated = false;
  const out = (paths: string[]) => {
    const sorted = paths.map((p) => `/${p}`).sort(compareCodePoints);
    if (sorted.length > limit) truncated = true;
    return sorted.slice(0, limit);
  };
  return {
    added: out(found.added),
    removed: out(found.removed),
    changed: out(found.changed),
    truncated,
  };
}

interface Roots {
  base: string;
  target: string;
}

async function compareFolders(roots: Roots, rel: string, found: Found): Promise<void> {
  const [inBase, inTarget] = await Promise.all([
    readdir(join(roots.base, rel)),
    readdir(join(roots.target, rel)),
  ]);
  const targetNames = new Set(inTarget);
  for (const name of inBase) {
    const path = rel === "" ? name : `${rel}/${name}`;
    const b = await lstat(join(roots.base, path));
    if (!targetNames.has(name)) {
      found.removed.push(path);
      if (b.isDirectory()) await listBelow(roots.base, path, found.removed);
      continue;
    }
    const t = await lstat(join(roots.target, path));
    if ((b.mode & constants.S_IFMT) !== (t.mode & constants.S_IFMT)) {
      // Replaced by something else: the path changed, what was below it went, what is below
      // it now came.
      found.changed.push(path);
      if (b.isDirectory()) await listBelow(roots.base, path, found.removed);
      if (t.isDirectory()) await listBelow(roots.target, path, found.added);
      continue;
    }
    if (await differs({ base: join(roots.base, path), target: join(roots.target, path) }, b, t))
      found.changed.push(path);
    if (b.isDirectory()) await compareFolders(roots, path, found);
  }
  const baseNames = new Set(inBase);
  for (const name of inTarget) {
    if (baseNames.has(name)) continue;
    const path = rel === "" ? name : `${rel}/${name}`;
    found.added.push(path);
    if ((await lstat(join(roots.target, path))).isDirectory())
      await listBelow(roots.target, path, found.added);
  }
}

/** Appends every path below the folder `rel` of the tree at `root`, never through a symlink. */
async function listBelow(root: string, rel: string, out: string[]): Promise<void> {
  for (const e of await readdir(join(root, rel), { withFileTypes: true })) {
    const path = `${rel}/${e.name}`;
    out.push(path);
    if (e.isDirectory()) await listBelow(root, path, out);
  }
}

/** Whether two entries of the same type differ in anything but their times. */
async function differs(paths: Roots, b: Stats, t: Stats): Promise<boolean> {
  if (b.mode !== t.mode || b.uid !== t.uid || b.gid !== t.gid) return true;
  if (b.isBlockDevice() || b.isCharacterDevice()) return b.rdev !== t.rdev;
  if (b.isSymbolicLink()) return (await readlink(paths.base)) !== (await readlink(paths.target));
  if (b.isFile()) return b.size !== t.size || !(await sameBytes(paths.base, paths.target));
  return false;
}

const CHUNK = 1024 * 1024;

async function sameBytes(a: string, b: string): Promise<boolean> {
  const flags = constants.O_RDONLY | constants.O_NOFOLLOW;
  await using fa = await open(a, flags);
  await using fb = await open(b, flags);
  const ba = Buffer.alloc(CHUNK);
  const bb = Buffer.alloc(CHUNK);
  for (;;) {
    const [ra, rb] = await Promise.all([fa.read(ba, 0, CHUNK, null), fb.read(bb, 0, CHUNK, null)]);
    if (ra.bytesRead !== rb.bytesRead) return false;
    if (ra.bytesRead === 0) return true;
    if (!ba.subarray(0, ra.bytesRead).equals(bb.subarray(0, rb.bytesRead))) return false;
  }
}

function compareCodePoints(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
