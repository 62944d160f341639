import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { test } from "node:test";
import type { ProcStat } from "./proc-stat.ts";
import { descendantsOf, processTree, waitExited } from "./process-tree.ts";

function stats(parents: [pid: number, ppid: number][]): Map<number, ProcStat> {
  return new Map(parents.map(([pid, ppid]) => [pid, { state: "S", ppid, startTime: pid }]));
}

test("descendantsOf() lists a process and everything below it, root first", () => {
  const s = stats([
    [1, 0],
    [10, 1],
    [11, 10],
    [12, 10],
    [13, 12],
    [20, 1],
  ]);
  assert.deepEqual(descendantsOf(10, s), [10, 11, 12, 13]);
  assert.deepEqual(descendantsOf(13, s), [13]);
  assert.deepEqual(descendantsOf(99, s), [], "a root that is gone has no tree");
});

test("descendantsOf() ends on parents that disagree (stats read while pids were reused)", () => {
  assert.deepEqual(
    descendantsOf(
      5,
      stats([
        [5, 6],
        [6, 5],
      ]),
    ),
    [5, 6],
  );
});

test("processTree() finds a real child and grandchild; waitExited() sees them end", async () => {
  const child = spawn("sh", ["-c", "sleep 600 & wait"], { stdio: "ignore" });
  const exited = once(child, "exit");
  await once(child, "spawn");
  let tree = await processTree(child.pid!);
  // The grandchild appears once sh has forked it; there is no event for that.
  const deadline = Date.now() + 5000;
  while (tree.size < 2 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 1));
    tree = await processTree(child.pid!);
  }
  assert.equal(tree.size, 2, `sh and sleep: ${[...tree.keys()]}`);
  const procs = [...tree].map(([pid, p]) => ({ pid, startTime: p.startTime }));
  assert.deepEqual(
    await waitExited(procs, 0),
    procs.map((p) => p.pid),
  );
  for (const { pid } of procs) process.kill(pid, "SIGKILL");
  assert.deepEqual(await waitExited(procs, 5000), []);
  await exited;
});
