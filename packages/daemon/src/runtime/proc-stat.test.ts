import assert from "node:assert/strict";
import { test } from "node:test";
import { hasExited, parseCrunStatus, parseProcStat } from "./proc-stat.ts";

const STAT =
  "20104 (agent) R 1 20104 20104 0 -1 4194572 96 109 0 4 0 0 0 0 20 0 1 0 1324328 0 0 18446744073709551615 0 0 0 0 0 0 81922 4096 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0";

test("parseProcStat() reads the state, parent and start time, whatever the command name holds", () => {
  assert.deepEqual(parseProcStat(STAT), { state: "R", ppid: 1, startTime: 1324328 });
  const odd = STAT.replace("(agent)", "(a) Z (b)");
  assert.deepEqual(parseProcStat(odd), { state: "R", ppid: 1, startTime: 1324328 });
  assert.equal(parseProcStat("garbage"), undefined);
});

test("parseCrunStatus() reads the init's pid and start time from crun's status file", () => {
  const text = JSON.stringify({ pid: 25803, "process-start-time": 1269510, detached: true });
  assert.deepEqual(parseCrunStatus(text), { pid: 25803, startTime: 1269510 });
  assert.equal(parseCrunStatus("{"), undefined);
  assert.equal(parseCrunStatus(JSON.stringify({ pid: 0, "process-start-time": 1 })), undefined);
});

test("hasExited() is true once the init is a zombie, gone, or its pid belongs to another process", () => {
  const init = { pid: 20104, startTime: 1324328 };
  assert.equal(
    hasExited(init, { state: "R", ppid: 1, startTime: 1324328 }),
    false,
    "still in its exit path",
  );
  assert.equal(hasExited(init, { state: "Z", ppid: 1, startTime: 1324328 }), true);
  assert.equal(hasExited(init, undefined), true);
  assert.equal(hasExited(init, { state: "S", ppid: 1, startTime: 999 }), true, "pid reused");
});
