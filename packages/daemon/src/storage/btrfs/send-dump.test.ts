import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { decode, finishDiff, SendDumpReader } from "./send-dump.ts";

// Captured with btrfs-progs 6.2 on kernel 6.18: `btrfs send --no-data -p <a> <b> | btrfs
// receive --dump`. How the trees were made is in the comments above each use.
const fixture = (name: string) =>
  readFileSync(new URL(`./fixtures/${name}.dump`, import.meta.url), "utf8");

function read(dump: string) {
  const r = new SendDumpReader();
  for (const line of dump.split("\n")) r.push(line);
  return r.changes();
}

const sorted = (s: Iterable<string>) => [...s].sort();

test("decode() undoes btrfs-progs path escapes, octal UTF-8 bytes included", () => {
  assert.equal(decode("with\\ space"), "with space");
  assert.equal(decode("nl\\nname"), "nl\nname");
  assert.equal(decode("tab\\tname"), "tab\tname");
  assert.equal(decode("back\\\\slash"), "back\\slash");
  assert.equal(decode("\\303\\274n\\303\\257"), "ünï");
  assert.equal(decode("plain"), "plain");
});

// base: dir/{a.txt,b.txt,sub/same}, "with space/file one.txt", keep/k, todelete, tomove,
// hl-src, sym -> /etc/passwd, "nl\nname", "back\slash", ünï, etc/passwd (file),
// moved-dir/inner/f, xattr-file, trunc. Then: a.txt rewritten, b.txt chmod 600, todelete
// removed, tomove moved to dir/moved, hl-link hard link to hl-src, keep/k touched, newdir/n
// made, "with space" removed, sym relinked to /etc/shadow, "new file" made, dir/sub renamed
// dir/sub2, "nl\nname" and ünï rewritten, moved-dir renamed "renamed dir" and inner/f
// rewritten, inner/g added, trunc truncated, a fifo made, etc/passwd replaced by a folder.
test("SendDumpReader reads renames, hard links, escapes and replacements; times alone never count", () => {
  const c = read(fixture("related"));
  assert.deepEqual(sorted(c.added), [
    "dir/moved",
    "dir/sub2",
    "etc/passwd",
    "fifo",
    "hl-link",
    "new file",
    "newdir",
    "newdir/n",
    "renamed dir",
    "renamed dir/inner/f",
    "renamed dir/inner/g",
    "sym",
  ]);
  assert.deepEqual(sorted(c.removed), [
    "dir/sub",
    "etc/passwd",
    "moved-dir",
    "moved-dir/inner/f",
    "sym",
    "todelete",
    "tomove",
    "with space",
    "with space/file one.txt",
  ]);
  assert.deepEqual(sorted(c.changed), ["dir/a.txt", "dir/b.txt", "nl\nname", "trunc", "ünï"]);
  assert.deepEqual(
    c.moved.sort((a, b) => (a.from < b.from ? -1 : 1)),
    [
      { from: "dir/sub", to: "dir/sub2" },
      { from: "moved-dir", to: "renamed dir" },
      { from: "moved-dir/inner/f", to: "renamed dir/inner/f" },
    ],
  );
});

test("finishDiff() adds the contents of moved folders and turns replaced paths into changes", () => {
  const c = read(fixture("related"));
  const diff = finishDiff(
    c,
    {
      removed: ["dir/sub/same", "moved-dir/inner", "moved-dir/inner/f"],
      added: ["dir/sub2/same", "renamed dir/inner", "renamed dir/inner/f", "renamed dir/inner/g"],
    },
    1000,
  );
  assert.deepEqual(diff, {
    added: [
      "/dir/moved",
      "/dir/sub2",
      "/dir/sub2/same",
      "/fifo",
      "/hl-link",
      "/new file",
      "/newdir",
      "/newdir/n",
      "/renamed dir",
      "/renamed dir/inner",
      "/renamed dir/inner/f",
      "/renamed dir/inner/g",
    ],
    removed: [
      "/dir/sub",
      "/dir/sub/same",
      "/moved-dir",
      "/moved-dir/inner",
      "/moved-dir/inner/f",
      "/todelete",
      "/tomove",
      "/with space",
      "/with space/file one.txt",
    ],
    changed: ["/dir/a.txt", "/dir/b.txt", "/etc/passwd", "/nl\nname", "/sym", "/trunc", "/ünï"],
    truncated: false,
  });
});

test("finishDiff() cuts each list at the limit and says so", () => {
  const diff = finishDiff(read(fixture("related")), { removed: [], added: [] }, 2);
  assert.deepEqual(diff.added, ["/dir/moved", "/dir/sub2"]);
  assert.equal(diff.removed.length, 2);
  assert.equal(diff.truncated, true);
});

// The same base against an unrelated subvolume holding o and dir/a.txt: btrfs matches
// inodes by number and generation, so nothing of the base is taken for the target's.
test("SendDumpReader gives the full difference for subvolumes that share no ancestry", () => {
  const d = finishDiff(read(fixture("unrelated")), { removed: [], added: [] }, 1000);
  assert.deepEqual(d.added, ["/o"]);
  assert.deepEqual(d.changed, ["/dir", "/dir/a.txt"]);
  assert.ok(d.removed.includes("/dir/sub/same"), "orphaned children of a replaced folder");
  assert.ok(d.removed.includes("/\u00fcn\u00ef"));
  assert.ok(d.removed.includes("/back\\slash"));
  assert.ok(!d.removed.includes("/dir"));
  assert.equal(d.removed.length, 21);
});

test("SendDumpReader lists everything as added from an empty base, and nothing for the same snapshot", () => {
  const all = finishDiff(read(fixture("from-empty")), { removed: [], added: [] }, 1000);
  assert.deepEqual(all.removed, []);
  assert.deepEqual(all.changed, []);
  assert.ok(all.added.includes("/with space/file one.txt"));
  assert.ok(all.added.includes("/nl\nname"));
  assert.equal(all.added.length, 23);
  assert.deepEqual(finishDiff(read(fixture("same")), { removed: [], added: [] }, 10), {
    added: [],
    removed: [],
    changed: [],
    truncated: false,
  });
});

// x1: "a b", xf, "tail " (trailing space); x2: hard link "c d" to "a b", xattrs set on
// xf (value with spaces) and "tail ".
test("SendDumpReader reads extended attributes and names ending in a space", () => {
  const d = finishDiff(read(fixture("xattr-link")), { removed: [], added: [] }, 10);
  assert.deepEqual(d, {
    added: ["/c d"],
    removed: [],
    changed: ["/tail ", "/xf"],
    truncated: false,
  });
});

test("SendDumpReader refuses a dump that does not start with its subvolume", () => {
  assert.throws(() => new SendDumpReader().push("unlink ./x/y"), /no snapshot or subvol line/);
});
