/**
 * A process and its descendants, read from /proc (this kernel has no
 * `/proc/<pid>/task/<tid>/children`, so parents come from each process's stat).
 */
import { readdir, readFile } from "node:fs/promises";
import { hasExited, type InitProcess, type ProcStat, parseProcStat } from "./proc-stat.ts";

/** `root` and every process below it in `stats` (pid → its stat), root first. */
export function descendantsOf(root: number, stats: ReadonlyMap<number, ProcStat>): number[] {
  const children = new Map<number, number[]>();
  for (const [pid, s] of stats) {
    const list = children.get(s.ppid);
    if (list) list.push(pid);
    else children.set(s.ppid, [pid]);
  }
  if (!stats.has(root)) return [];
  // A set, not a list: stats read one by one may disagree (a pid reused meanwhile).
  const out = new Set([root]);
  for (const pid of out) for (const child of children.get(pid) ?? []) out.add(child);
  return [...out];
}

/** The stat of every process on the host that can be read (a process may end meanwhile). */
export async function readProcStats(): Promise<Map<number, ProcStat>> {
  const pids = (await readdir("/proc")).filter((n) => /^\d+$/.test(n)).map(Number);
  const stats = new Map<number, ProcStat>();
  await Promise.all(
    pids.map(async (pid) => {
      const text = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => undefined);
      const s = text === undefined ? undefined : parseProcStat(text);
      if (s) stats.set(pid, s);
    }),
  );
  return stats;
}

/** `root` and its descendants as they are now, with their stats; empty once root is gone. */
export async function processTree(root: number): Promise<Map<number, ProcStat>> {
  const stats = await readProcStats();
  return new Map(descendantsOf(root, stats).map((pid) => [pid, stats.get(pid)!]));
}

/**
 * Waits until each of `procs` has exited (a zombie, or reaped) or `timeoutMs` passed, and
 * returns the pids still running. There is no event for the exit of a process that is not
 * one's child (no pidfd in Node), so this polls /proc every millisecond.
 */
export async function waitExited(
  procs: readonly InitProcess[],
  timeoutMs: number,
): Promise<number[]> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const left: number[] = [];
    for (const p of procs) {
      const text = await readFile(`/proc/${p.pid}/stat`, "utf8").catch(() => undefined);
      if (!hasExited(p, text === undefined ? undefined : parseProcStat(text))) left.push(p.pid);
    }
    if (left.length === 0 || performance.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 1));
  }
}
