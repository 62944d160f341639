import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import { ERROR_CODES, ERROR_KINDS, KIND_STATUS } from "./errors.ts";

const DOC = new URL("../../../docs/errors.md", import.meta.url);

test("docs/errors.md documents exactly the codes in ERROR_CODES, with their kind and status", async () => {
  const rows = (await readFile(DOC, "utf8"))
    .split("\n")
    .map((l) => /^\|\s*`([a-z_]+)`\s*\|\s*(\w+)\s*\|\s*(\d{3})\s*\|/.exec(l))
    .filter((m) => m !== null)
    .map((m) => [m[1], m[2], Number(m[3])]);
  const expected = Object.entries(ERROR_CODES).map(([code, [kind]]) => [
    code,
    kind,
    KIND_STATUS[kind],
  ]);
  assert.deepEqual(rows, expected);
});

test("every error code is snake_case and every kind has a 4xx or 5xx status", () => {
  for (const code of Object.keys(ERROR_CODES)) assert.match(code, /^[a-z]+(_[a-z]+)*$/);
  for (const kind of ERROR_KINDS)
    assert.ok(KIND_STATUS[kind] >= 400 && KIND_STATUS[kind] < 600, kind);
});
