import { join } from "node:path";
import { run } from "../../lib/exec.ts";
import { unmountBelow } from "../../lib/mounts.ts";
import { btrfs } from "./commands.ts";
import { type BtrfsHelper, BtrfsHelperError } from "./helper.ts";
import { parseSubvolumeList } from "./parse.ts";

/**
 * Deletes the subvolume at `path` (a layer entry, `<root>/<state>/<name>`) and any
 * subvolumes nested in it, deepest first: code inside a sandbox can create subvolumes (it
 * only needs write access to a folder), and btrfs refuses to delete a subvolume that still
 * contains one. A missing subvolume is not an error.
 */
export async function deleteSubvolumeTree(
  helper: Pick<BtrfsHelper, "call">,
  options: { root: string; path: string },
): Promise<void> {
  const { root, path } = options;
  await unmountBelow(path);
  // The common case has nothing nested: one delete. Listing subvolumes costs an exec.
  const plain = await helper.call("destroy", [path]).then(
    () => true,
    (err: unknown) => {
      if (err instanceof BtrfsHelperError && err.code === "ENOENT") return true;
      if (err instanceof BtrfsHelperError && err.code === "ENOTEMPTY") return false;
      throw err;
    },
  );
  if (plain) return;
  const rel = relativeTail(path);
  const { stdout } = await run(btrfs.subvolumeList(root));
  const nested = parseSubvolumeList(stdout)
    .filter((s) => containsSegment(s.path, `${rel}/`))
    .sort((a, b) => b.path.length - a.path.length);
  for (const s of nested) {
    const idx = s.path.indexOf(`${rel}/`);
    const abs = join(path, s.path.slice(idx + rel.length + 1));
    await helper.call("readonly", [abs, "0"]).catch(() => {});
    await helper.call("destroy", [abs]);
  }
  await helper.call("destroy", [path]);
}

/** The last three components of a layer path (`<root-name>/<state>/<id>`), as `subvolume list` shows them. */
function relativeTail(path: string): string {
  return path.split("/").slice(-3).join("/");
}

function containsSegment(haystack: string, needle: string): boolean {
  return haystack.startsWith(needle) || haystack.includes(`/${needle}`);
}
