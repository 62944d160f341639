import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { StrataError } from "./errors.ts";
import { buildCommand, escapeShellArg, type ShellValue } from "./shell.ts";

test("escapeShellArg() keeps safe words verbatim and quotes everything else", () => {
  assert.equal(escapeShellArg("abc-1.2_x/y"), "abc-1.2_x/y");
  assert.equal(escapeShellArg("a b"), "'a b'");
  assert.equal(escapeShellArg("$HOME"), "'$HOME'");
  assert.equal(escapeShellArg("it's"), `'it'"'"'s'`);
  assert.equal(escapeShellArg("C:\\p"), "'C:\\p'");
  assert.equal(escapeShellArg("a\\b"), "'a\\b'", "a backslash is quoted, unlike @deno/sandbox");
  assert.equal(escapeShellArg("*.txt"), "'*.txt'");
  assert.equal(escapeShellArg("a\nb"), "'a\nb'");
});

test("escapeShellArg() turns empty values into '' and scalars into their text", () => {
  assert.equal(escapeShellArg(""), "''");
  assert.equal(escapeShellArg(null), "''");
  assert.equal(escapeShellArg(undefined), "''");
  assert.equal(escapeShellArg(42), "42");
  assert.equal(escapeShellArg(-1.5), "-1.5");
  assert.equal(escapeShellArg(true), "true");
  assert.equal(escapeShellArg(10n), "10");
});

test("escapeShellArg() makes an array several words, each quoted on its own", () => {
  assert.equal(escapeShellArg(["a b", "c", "it's"]), `'a b' c 'it'"'"'s'`);
  assert.equal(escapeShellArg([]), "");
  assert.equal(escapeShellArg([["x y"], 1]), "'x y' 1");
});

test("escapeShellArg() refuses objects with invalid_argument", () => {
  const value = { a: 1 } as unknown as ShellValue;
  assert.throws(
    () => escapeShellArg(value),
    (err: unknown) => {
      assert.ok(err instanceof StrataError);
      assert.equal(err.code, "invalid_argument");
      return true;
    },
  );
  assert.throws(() => escapeShellArg([value]), { code: "invalid_argument" });
});

test("buildCommand() keeps the literal parts and quotes each value", () => {
  const file = "my notes.txt";
  assert.equal(buildCommand`cat ${file} | wc -l`, "cat 'my notes.txt' | wc -l");
  assert.equal(buildCommand`rm -f ${["a b", "c"]} ${""}`, "rm -f 'a b' c ''");
  assert.equal(buildCommand`echo`, "echo");
});

test("a real /bin/sh gets back every value exactly, one argument each", () => {
  const nasty = [
    "plain",
    "two words",
    "it's",
    `"double"`,
    "$HOME $(id) `id`",
    "back\\slash",
    "tab\there",
    "new\nline",
    "glob * ? [a]",
    "; rm -rf / #",
    "-n",
    "",
    "ünïcødé ✓",
  ];
  const command = buildCommand`printf '%s\\0' ${nasty}`;
  const out = execFileSync("/bin/sh", ["-c", command], { encoding: "utf8" });
  assert.deepEqual(out.split("\0").slice(0, -1), nasty);
});
