import assert from "node:assert/strict";
import { test } from "node:test";
import {
  batchArgs,
  encodeRequest,
  errnoName,
  MAX_ARGS,
  MAX_REQUEST_BYTES,
  parseAnswer,
  parseSnapValue,
  parseUsageValue,
  splitLines,
} from "./helper-protocol.ts";

test("encodeRequest() joins id, op and arguments with TABs and ends the line", () => {
  assert.equal(
    encodeRequest(7, "snap", ["/p/readonly/a", "/p/tmp/b", "0"]),
    "7\tsnap\t/p/readonly/a\t/p/tmp/b\t0\n",
  );
  assert.equal(encodeRequest(1, "sync", ["/p"]), "1\tsync\t/p\n");
});

test("encodeRequest() refuses arguments the line framing cannot carry", () => {
  for (const bad of ["/a\tb", "/a\nb", "/a\0b"])
    assert.throws(() => encodeRequest(1, "destroy", [bad]), /TAB, LF or NUL/);
  assert.throws(() => encodeRequest(1, "destroy", [`/${"x".repeat(20000)}`]), /too long/);
});

test("parseAnswer() reads ok answers with or without a value, and err answers naming the errno", () => {
  assert.deepEqual(parseAnswer("12\tok"), { id: 12, ok: true, value: "" });
  assert.deepEqual(parseAnswer("4\tok\tsquota"), { id: 4, ok: true, value: "squota" });
  assert.deepEqual(parseAnswer("3\terr\t39\tsubvolume delete: Directory not empty"), {
    id: 3,
    ok: false,
    errno: 39,
    code: "ENOTEMPTY",
    message: "subvolume delete: Directory not empty",
  });
  assert.equal(errnoName(2), "ENOENT");
  assert.equal(errnoName(9999), "E9999");
});

test("parseAnswer() throws on lines the helper never sends", () => {
  for (const bad of [
    "",
    "x\tok",
    "1\tok\t",
    "1\tok\ta\tb",
    "1\terr\tnope\tmsg",
    "1\terr\t2",
    "1\tmaybe",
  ])
    assert.throws(() => parseAnswer(bad), /Malformed answer/, bad);
});

test("splitLines() keeps an unfinished line for the next chunk", () => {
  assert.deepEqual(splitLines("", "1\tok\n2\t"), { lines: ["1\tok"], rest: "2\t" });
  assert.deepEqual(splitLines("2\t", "ok\n"), { lines: ["2\tok"], rest: "" });
});

test("parseSnapValue() reads the source's count and the snapshot's figures", () => {
  assert.deepEqual(parseSnapValue("8404992 16384 16384"), {
    source: 8404992,
    dest: { referenced: 16384, exclusive: 16384 },
  });
  for (const bad of ["", "8404992", "1 2", "1 2 x", "1 2 3 4", "-1 2 3"])
    assert.throws(() => parseSnapValue(bad), /Malformed snap answer/, bad);
});

test("parseUsageValue() reads one figure pair per path, null for a missing path", () => {
  assert.deepEqual(parseUsageValue("8404992:16384 - 0:0", 3), [
    { referenced: 8404992, exclusive: 16384 },
    null,
    { referenced: 0, exclusive: 0 },
  ]);
  for (const [bad, n] of [
    ["1:2", 2],
    ["1:2 3:4", 1],
    ["1", 1],
    ["1:2:3", 1],
    ["a:b", 1],
    ["", 1],
  ] as const)
    assert.throws(() => parseUsageValue(bad, n), /Malformed usage answer/, bad);
});

test("batchArgs() keeps every request within the helper's line and argument limits", () => {
  assert.deepEqual(batchArgs("usage", []), []);
  assert.deepEqual(batchArgs("usage", ["/a", "/b"]), [["/a", "/b"]]);
  const many = Array.from({ length: 600 }, (_, i) => `/pool/writable/vol_${i}`);
  const byCount = batchArgs("usage", many);
  assert.deepEqual(
    byCount.map((b) => b.length),
    [MAX_ARGS, MAX_ARGS, 600 - 2 * MAX_ARGS],
  );
  assert.deepEqual(byCount.flat(), many);
  const long = Array.from({ length: 40 }, (_, i) => `/${"x".repeat(1000)}/${i}`);
  const byBytes = batchArgs("usage", long);
  assert.ok(byBytes.length > 1);
  assert.deepEqual(byBytes.flat(), long);
  for (const b of byBytes)
    assert.ok(encodeRequest(1e15, "usage", b).length <= MAX_REQUEST_BYTES, `${b.length} paths`);
});
