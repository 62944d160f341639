import { chmod, lchown, lstat, opendir } from "node:fs/promises";
import { join } from "node:path";

/**
 * Adds `offset` to the owner and group of every entry under `root` (symlinks themselves,
 * never their targets), so that a tree built as host root belongs to the sandboxes' mapped
 * root. Done once per image; snapshots and forks keep the shifted owners, so starting a
 * sandbox needs no chown. chown clears setuid/setgid bits, so they are put back.
 */
export async function shiftIds(root: string, offset: number): Promise<number> {
  let count = 0;
  const visit = async (path: string): Promise<void> => {
    const st = await lstat(path);
    await lchown(path, st.uid + offset, st.gid + offset);
    count++;
    if (!st.isSymbolicLink() && st.mode & 0o6000) await chmod(path, st.mode & 0o7777);
    if (st.isDirectory()) {
      for await (const entry of await opendir(path)) await visit(join(path, entry.name));
    }
  };
  await visit(root);
  return count;
}
