import assert from "node:assert/strict";
import { test } from "node:test";
import { encodeRequest, errnoName, parseAnswer, splitLines } from "./helper-protocol.ts";

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
