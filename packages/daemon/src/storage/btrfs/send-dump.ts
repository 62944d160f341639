/**
 * A pure reader of `btrfs receive --dump` output for an incremental send
 * (`btrfs send --no-data -p <base> <target>`), turned into a path-level diff.
 *
 * The stream is a recipe that turns `base` into `target`: every path in it names the
 * tree as it is at that step, with temporary orphan names (`o257-10-0`) for inodes being
 * moved or replaced. The reader follows the recipe on a sparse model of the tree — only
 * the paths the stream touches — and remembers for each where it came from in `base`.
 *
 * What counts: a path in `target` only (added), in `base` only (removed), or in both with
 * other data, size, mode, owner, extended attributes or a different inode (changed).
 * `utimes` never counts: a directory's times change whenever an entry is added or removed
 * in it, and that is not a change of the directory.
 *
 * A renamed path is removed at its old place and added at its new one; for a directory,
 * the paths under it are not in the stream, so the caller lists them from both trees
 * (`moved`) and passes them to {@link finishDiff}. A hard-linked file whose data changed is
 * reported under the one name the stream uses.
 */

/** Commands that create a new inode or name at their path. */
const CREATE = new Set(["mkfile", "mkdir", "mknod", "mkfifo", "mksock", "symlink", "link"]);
/** Commands that only change times (never counted) or describe the stream itself. */
const IGNORE = new Set(["snapshot", "subvol", "utimes", "end"]);

interface Node {
  /** The path this node had in `base`, or null when the stream created it. */
  origin: string | null;
  modified: boolean;
}

/** What a dump says, before the contents of moved directories are added. */
export interface DumpChanges {
  added: Set<string>;
  removed: Set<string>;
  changed: Set<string>;
  /** Paths that moved (`from` in base, `to` in target); directories among them need listing. */
  moved: { from: string; to: string }[];
}

/** Follows one dump, line by line. Paths are relative to the root, without a leading slash. */
export class SendDumpReader {
  #prefix: string | null = null;
  readonly #nodes = new Map<string, Node>();
  readonly #removed = new Set<string>();

  /** Reads one line of `btrfs receive --dump`. */
  push(line: string): void {
    if (line.trim() === "") return;
    const cmd = /^\S+/.exec(line)?.[0] ?? "";
    const first = readToken(line, cmd.length);
    if (cmd === "snapshot" || cmd === "subvol") {
      // `./<subvolume>`: every later path starts with it.
      this.#prefix = `${decode(first.raw)}/`;
      return;
    }
    if (IGNORE.has(cmd)) return;
    const path = this.#strip(decode(first.raw));
    if (CREATE.has(cmd)) {
      this.#drop(path);
      this.#nodes.set(path, { origin: null, modified: true });
    } else if (cmd === "rename") {
      const dest = this.#strip(decode(readValue(line, first.end, "dest")));
      this.#move(path, dest);
    } else if (cmd === "unlink" || cmd === "rmdir") {
      const origin = this.#resolve(path).origin;
      if (origin !== null) this.#removed.add(origin);
      this.#drop(path);
    } else {
      // update_extent, write, clone, truncate, chmod, chown, set_xattr, remove_xattr, and
      // any command a newer protocol adds: over-reporting beats missing a change.
      const node = this.#resolve(path);
      this.#nodes.set(path, { origin: node.origin, modified: true });
    }
  }

  /** The changes read so far, as paths relative to the root (`a/b`; `""` is the root). */
  changes(): DumpChanges {
    const added = new Set<string>();
    const removed = new Set(this.#removed);
    const changed = new Set<string>();
    const moved: { from: string; to: string }[] = [];
    for (const [path, node] of this.#nodes) {
      if (node.origin === null) added.add(path);
      else if (node.origin !== path) {
        removed.add(node.origin);
        added.add(path);
        moved.push({ from: node.origin, to: path });
      } else if (node.modified) changed.add(path);
    }
    return { added, removed, changed, moved };
  }

  #strip(path: string): string {
    const prefix = this.#prefix;
    if (prefix === null) throw new Error("Invalid send dump: no snapshot or subvol line first");
    if (path === prefix.slice(0, -1) || path === prefix) return "";
    if (!path.startsWith(prefix)) {
      throw new Error(`Invalid send dump: path ${JSON.stringify(path)} is outside ${prefix}`);
    }
    return path.slice(prefix.length);
  }

  /** Where the node now at `path` came from, looking through moved ancestors. */
  #resolve(path: string): Node {
    const own = this.#nodes.get(path);
    if (own) return own;
    for (let i = path.lastIndexOf("/"); i > 0; i = path.lastIndexOf("/", i - 1)) {
      const ancestor = this.#nodes.get(path.slice(0, i));
      if (ancestor) {
        const origin = ancestor.origin === null ? null : join(ancestor.origin, path.slice(i + 1));
        return { origin, modified: false };
      }
    }
    return { origin: path, modified: false };
  }

  #move(from: string, to: string): void {
    const node = this.#resolve(from);
    const below = `${from}/`;
    const moved: [string, Node][] = [];
    for (const [key, value] of this.#nodes) {
      if (key === from || key.startsWith(below)) moved.push([key, value]);
    }
    for (const [key] of moved) this.#nodes.delete(key);
    for (const [key, value] of moved) this.#nodes.set(to + key.slice(from.length), value);
    if (!this.#nodes.has(to)) this.#nodes.set(to, { origin: node.origin, modified: false });
  }

  #drop(path: string): void {
    const below = `${path}/`;
    for (const key of [...this.#nodes.keys()]) {
      if (key === path || key.startsWith(below)) this.#nodes.delete(key);
    }
  }
}

/** What the caller found under moved directories, in each tree. */
export interface MovedContents {
  /** Paths under a moved directory's old place, read from `base`. */
  removed: Iterable<string>;
  /** Paths under a moved directory's new place, read from `target`. */
  added: Iterable<string>;
}

/**
 * The final diff: sorted `/a/b` paths, each list cut at `limit`. A path both removed and
 * added (replaced by another inode) is changed.
 */
export function finishDiff(
  changes: DumpChanges,
  moved: MovedContents,
  limit: number,
): { added: string[]; removed: string[]; changed: string[]; truncated: boolean } {
  const added = new Set([...changes.added, ...moved.added]);
  const removed = new Set([...changes.removed, ...moved.removed]);
  const changed = new Set(changes.changed);
  for (const p of added) {
    if (removed.has(p)) {
      added.delete(p);
      removed.delete(p);
      changed.add(p);
    }
  }
  let truncated = false;
  const out = (set: Set<string>) => {
    const sorted = [...set].map((p) => `/${p}`).sort(compareCodePoints);
    if (sorted.length > limit) truncated = true;
    return sorted.slice(0, limit);
  };
  return { added: out(added), removed: out(removed), changed: out(changed), truncated };
}

function compareCodePoints(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function join(dir: string, name: string): string {
  return dir === "" ? name : `${dir}/${name}`;
}

/** A backslash-escaped token starting at the first non-blank at or after `from`. */
function readToken(line: string, from: number): { raw: string; end: number } {
  let i = from;
  while (i < line.length && (line[i] === " " || line[i] === "\t")) i++;
  const start = i;
  while (i < line.length && line[i] !== " " && line[i] !== "\t") i += line[i] === "\\" ? 2 : 1;
  return { raw: line.slice(start, Math.min(i, line.length)), end: i };
}

/** The escaped value of `key=` among the fields after the path. */
function readValue(line: string, from: number, key: string): string {
  let i = from;
  while (i < line.length) {
    const token = readToken(line, i);
    if (token.raw === "") break;
    if (token.raw.startsWith(`${key}=`)) return token.raw.slice(key.length + 1);
    i = token.end;
  }
  throw new Error(`Invalid send dump line, no ${key}=: ${JSON.stringify(line)}`);
}

const SIMPLE_ESCAPES: Record<string, number> = {
  a: 7,
  b: 8,
  e: 27,
  f: 12,
  n: 10,
  r: 13,
  t: 9,
  v: 11,
  " ": 32,
  "\\": 92,
};

/**
 * Undoes btrfs-progs' `print_path_escaped`: `\n`-style escapes, `\ `, `\\`, and `\ooo`
 * octal for every other unprintable byte (so UTF-8 names arrive as octal bytes).
 */
export function decode(raw: string): string {
  if (!raw.includes("\\")) return raw;
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c !== "\\") {
      for (const b of Buffer.from(c)) bytes.push(b);
      continue;
    }
    const next = raw[i + 1] ?? "";
    const octal = /^[0-3][0-7]{2}$/.exec(raw.slice(i + 1, i + 4));
    if (octal) {
      bytes.push(Number.parseInt(octal[0], 8));
      i += 3;
    } else if (next in SIMPLE_ESCAPES) {
      bytes.push(SIMPLE_ESCAPES[next]!);
      i += 1;
    } else {
      bytes.push(92);
    }
  }
  return Buffer.from(bytes).toString("utf8");
}
