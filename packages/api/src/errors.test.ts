import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { test } from "node:test";
import { CLIENT_ERROR_CODES, ERROR_CODES, ERROR_KINDS, KIND_STATUS } from "./errors.ts";

const DOC = new URL("../../../docs/errors.md", import.meta.url);
const SDK = new URL("../../sdk/src/", import.meta.url);

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

test("docs/errors.md documents exactly the client-side codes, with their meaning", async () => {
  const rows = (await readFile(DOC, "utf8"))
    .split("\n")
    .map((l) => /^\|\s*`([a-z_]+)`\s*\|\s*([^|]*[^|\s])\s*\|$/.exec(l))
    .filter((m) => m !== null)
    .map((m) => [m[1], m[2]]);
  assert.deepEqual(rows, Object.entries(CLIENT_ERROR_CODES));
});

test("every code the SDK raises is in the daemon's catalogue or among the client-side codes", async () => {
  const files = (await readdir(SDK)).filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"));
  const raised = new Set<string>();
  for (const file of files) {
    const text = await readFile(new URL(file, SDK), "utf8");
    for (const m of text.matchAll(/(?:StrataError\(|super\(|\bcode: )\s*"([a-z_]+)"/g))
      raised.add(m[1]!);
  }
  // The scan must see the SDK's own codes, or it proves nothing.
  for (const code of ["missing_token", "network_error", "command_failed", "wait_timeout"])
    assert.ok(raised.has(code), `the scan misses ${code}`);
  for (const code of raised)
    assert.ok(code in ERROR_CODES || code in CLIENT_ERROR_CODES, `${code} is undocumented`);
});

test("every error code is snake_case, client codes are not daemon codes, and every kind has a 4xx or 5xx status", () => {
  for (const code of [...Object.keys(ERROR_CODES), ...Object.keys(CLIENT_ERROR_CODES)])
    assert.match(code, /^[a-z]+(_[a-z]+)*$/);
  for (const code of Object.keys(CLIENT_ERROR_CODES)) assert.ok(!(code in ERROR_CODES), code);
  for (const kind of ERROR_KINDS)
    assert.ok(KIND_STATUS[kind] >= 400 && KIND_STATUS[kind] < 600, kind);
});
