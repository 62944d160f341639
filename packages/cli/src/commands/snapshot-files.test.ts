import assert from "node:assert/strict";
import { test } from "node:test";
import { diffText, dirTable } from "./snapshot-files.ts";

test("diffText() prints A/D/M lines in path order, escaping odd names, then a summary", () => {
  const text = diffText({
    base: { kind: "snapshot", id: "snp_1", slug: "v1" },
    target: { kind: "snapshot", id: "snp_2", slug: "v2" },
    added: ["/b", "/new\nline"],
    removed: ["/a"],
    changed: ["/c"],
    truncated: true,
  });
  assert.equal(
    text,
    [
      "D  /a",
      "A  /b",
      "M  /c",
      "A  /new\\nline",
      "2 added, 1 removed, 1 changed (v1 -> snapshot v2); more were left out, raise --limit.",
    ].join("\n"),
  );
});

test("diffText() says when nothing changed", () => {
  const text = diffText({
    base: { kind: "snapshot", id: "snp_1", slug: "v1" },
    target: { kind: "volume", id: "vol_1", slug: "data" },
    added: [],
    removed: [],
    changed: [],
    truncated: false,
  });
  assert.equal(text, "No differences (v1 -> volume data).");
});

test("dirTable() marks folders with a slash", () => {
  const table = dirTable([
    { name: "etc", isFile: false, isDirectory: true, isSymlink: false },
    { name: "x", isFile: false, isDirectory: false, isSymlink: true },
  ]);
  assert.equal(table, ["TYPE  NAME", "dir   etc/", "link  x"].join("\n"));
});
