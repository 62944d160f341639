import type { Dirent } from "node:fs";
import { chmod, lstat, readdir } from "node:fs/promises";
import { join } from "node:path";
import { ExecError, run } from "../../lib/exec.ts";
import { unmountBelow } from "../../lib/mounts.ts";

/**
 * Whole-tree operations of the directory driver, by well-kept tools: GNU `cp -a` copies,
 * `du` measures, `rm` deletes, e2fsprogs' `chattr` freezes. None of them follows a symlink
 * inside the tree or crosses into a mount point: the trees hold whatever sandbox code put
 * there.
 */
const isRoot = process.getuid?.() === 0;

/** Pure argv builders, so the flags that keep a copy faithful and confined are in one place. */
export const treeCommands = {
  /**
   * Copies the tree at `source` to the new path `dest`: modes, times, hard links, symlinks
   * as symlinks, fifos, extended attributes, and owners where permitted (as an ordinary
   * user GNU cp keeps the owner silently); sharing the data where the filesystem can
   * (`--reflink=auto`); never entering a mount point below `source`.
   */
  copy: (source: string, dest: string) => [
    "cp",
    "--archive",
    "--reflink=auto",
    "--one-file-system",
    "--no-target-directory",
    "--",
    source,
    dest,
  ],
  /** Deletes the tree, never following a symlink nor entering a mount point. */
  remove: (path: string) => ["rm", "-rf", "--one-file-system", "--", path],
  /** Bytes allocated to the tree, each inode counted once, on its filesystem only. */
  size: (path: string) => ["du", "--summarize", "--one-file-system", "--block-size=1", "--", path],
  /**
   * Sets (`+i`) or clears (`-i`) the immutable flag on every file and folder of the tree at
   * the absolute `path` (chattr takes no `--`). chattr skips symlinks and special files
   * without opening them, and exits 1 for them.
   */
  immutable: (path: string, on: boolean) => ["chattr", "-R", "-f", on ? "+i" : "-i", path],
} as const;

export async function copyTree(source: string, dest: string): Promise<void> {
  await run(treeCommands.copy(source, dest));
}

export async function treeBytes(path: string): Promise<number> {
  const { stdout } = await run(treeCommands.size(path));
  const bytes = Number(/^(\d+)\t/.exec(stdout)?.[1]);
  if (!Number.isSafeInteger(bytes)) throw new Error(`Cannot read the size of ${path}: ${stdout}`);
  return bytes;
}

/**
 * Makes a tree read-only as far as this process can: with the immutable flag (root only,
 * and only on filesystems that have it), which refuses writes, renames and deletes even to
 * root. As an ordinary user nothing more can be done without changing the tree's modes,
 * which are part of its content.
 */
export async function freezeTree(path: string): Promise<void> {
  if (!isRoot) return;
  // chattr exits 1 for symlinks, and where the filesystem has no such flag (the tree then
  // stays writable); the flags it could set are set.
  await run(treeCommands.immutable(path, true)).catch((err: unknown) => {
    if (!(err instanceof ExecError)) throw err;
  });
}

/**
 * Deletes a tree, missing or not, with GNU `rm`, which walks the tree physically: it
 * never follows a symlink, whatever fails on the way. (Node's `fs.rm({ recursive })` must
 * not be used on trees that hold symlinks: when unlinking one fails with EPERM, as in an
 * immutable folder, it retries the path as a folder and reads and deletes what the link
 * points to.) What is mounted below the tree is unmounted first, and the immutable flag is
 * cleared (root only) before the delete; if the delete is still refused (an ordinary user
 * in a folder of mode 0555), the owner gets write access to the tree's folders and `rm`
 * tries again.
 */
export async function removeTree(path: string): Promise<void> {
  await unmountBelow(path);
  if (!(await lstat(path).catch(() => null))) return;
  if (isRoot)
    await run(treeCommands.immutable(path, false)).catch((err: unknown) => {
      if (!(err instanceof ExecError)) throw err;
    });
  try {
    await run(treeCommands.remove(path));
    return;
  } catch (err) {
    if (!(err instanceof ExecError)) throw err;
  }
  await openFolders(path);
  await run(treeCommands.remove(path));
}

/** Adds u+rwx to every real folder of the tree (symlinks are never followed). */
async function openFolders(path: string): Promise<void> {
  const s = await lstat(path).catch(() => null);
  if (!s?.isDirectory()) return;
  await chmod(path, (s.mode & 0o7777) | 0o700).catch(() => {});
  let entries: Dirent[];
  try {
    entries = await readdir(path, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) if (e.isDirectory()) await openFolders(join(path, e.name));
}
