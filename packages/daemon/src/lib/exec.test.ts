import assert from "node:assert/strict";
import { test } from "node:test";
import { ExecError, run } from "./exec.ts";

test("run() returns a command's output and passes its input", async () => {
  assert.deepEqual(await run(["sh", "-c", "cat; echo err >&2"], { input: "in\n" }), {
    stdout: "in\n",
    stderr: "err\n",
  });
});

test("run() rejects with ExecError carrying the exit code and stderr", async () => {
  await assert.rejects(run(["sh", "-c", "echo nope >&2; exit 3"]), (e: unknown) => {
    assert.ok(e instanceof ExecError);
    assert.equal(e.exitCode, 3);
    assert.equal(e.stderr, "nope\n");
    return true;
  });
});

test("run() rejects with ExecError and no exit code when the command cannot start", async () => {
  await assert.rejects(run(["/nonexistent/strata-test"]), (e: unknown) => {
    assert.ok(e instanceof ExecError);
    assert.equal(e.exitCode, null);
    assert.match(e.message, /ENOENT/);
    return true;
  });
});

test("run() runs many commands at once and answers each with its own output", async () => {
  const outs = await Promise.all(
    Array.from({ length: 20 }, (_, i) => run(["sh", "-c", `echo ${i}`])),
  );
  assert.deepEqual(
    outs.map((o) => o.stdout),
    Array.from({ length: 20 }, (_, i) => `${i}\n`),
  );
});

test("run() with onStderrLine reports stderr line by line", async () => {
  const lines: string[] = [];
  await run(["sh", "-c", "echo a >&2; echo b >&2"], { onStderrLine: (l) => lines.push(l) });
  assert.deepEqual(lines, ["a", "b"]);
});
