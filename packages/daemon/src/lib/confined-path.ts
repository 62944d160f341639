import type { Stats } from "node:fs";
import { lstat, readlink } from "node:fs/promises";
import { join } from "node:path";

/** Linux's limit on symlinks followed while resolving one path (MAXSYMLINKS). */
export const MAX_SYMLINKS = 40;

/** Why a path could not be resolved, named like the errno the kernel would give. */
export class ConfinedPathError extends Error {
  readonly code: "ENOENT" | "ENOTDIR" | "ELOOP";
  readonly path: string;
  constructor(code: ConfinedPathError["code"], path: string, detail: string) {
    super(`${code}: ${detail}: ${JSON.stringify(path)}`);
    this.name = "ConfinedPathError";
    this.code = code;
    this.path = path;
  }
}

export interface ConfinedPath {
  /** Where the entry is on the host: `root` joined with real folder names only. */
  hostPath: string;
  /** The path inside the tree, normalised (`/a/b`). */
  path: string;
  /** `lstat` of the entry (a final symlink is described, not followed, when `followFinal` is false). */
  stats: Stats;
}

/**
 * Resolves `path` inside the tree at `root` as if `root` were `/`, the way the kernel would
 * inside a chroot: `..` stops at the root, and every symlink met — absolute targets
 * included — is read and resolved again inside the tree. No host path outside `root` is
 * ever looked at: each component is `lstat`ed (never followed by the kernel), and only
 * real folders are descended into. More than {@link MAX_SYMLINKS} symlinks fail with
 * `ELOOP`, a missing entry with `ENOENT`, a non-folder in the middle with `ENOTDIR`.
 *
 * This is safe only on a tree nothing changes while it runs (a read-only snapshot): on a
 * live tree a folder could be swapped for a symlink between the check and the use.
 *
 * @example
 * ```ts
 * // Inside the tree, /etc/passwd -> ../../../../etc/shadow resolves to <root>/etc/shadow.
 * const { hostPath, stats } = await resolveConfined(snapshotRoot, "/etc/passwd", { followFinal: true });
 * ```
 */
export async function resolveConfined(
  root: string,
  path: string,
  options: { followFinal: boolean },
): Promise<ConfinedPath> {
  // A stack of components still to walk, next one last.
  const pending = components(path).reverse();
  const resolved: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const name = pending.pop()!;
    if (name === "..") {
      resolved.pop();
      continue;
    }
    const last = pending.length === 0;
    const host = join(root, ...resolved, name);
    const stats = await lstat(host).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") throw new ConfinedPathError("ENOENT", path, "no such file");
      throw err;
    });
    if (stats.isSymbolicLink() && (!last || options.followFinal)) {
      if (++links > MAX_SYMLINKS)
        throw new ConfinedPathError("ELOOP", path, "too many levels of symbolic links");
      const target = await readlink(host);
      if (target.startsWith("/")) resolved.length = 0;
      pending.push(...components(target).reverse());
      continue;
    }
    if (!last && !stats.isDirectory())
      throw new ConfinedPathError("ENOTDIR", path, "a component is not a directory");
    resolved.push(name);
  }
  const hostPath = join(root, ...resolved);
  return { hostPath, path: `/${resolved.join("/")}`, stats: await lstat(hostPath) };
}

function components(path: string): string[] {
  return path.split("/").filter((c) => c !== "" && c !== ".");
}
