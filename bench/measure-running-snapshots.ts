import type { BootTimings } from "./measure-sandboxes.ts";
import type { Context } from "./measure-strata.ts";
import type { Stratad } from "./stratad.ts";

/** Snapshots of a running sandbox whose root holds one of the boot sizes. */
export interface RunningSnapshotTimings {
  key: string;
  label: string;
  bytes: number;
  /** POST → the answer (status creating). */
  answerMs: number[];
  /** createdAt → settledAt of the snapshot, on the daemon's clock (ms resolution). */
  readyMs: number[];
  /** How long the sandbox's processes were frozen, as the daemon measured it. */
  frozenMs: number[];
  /**
   * The longest pause seen by a process inside the sandbox that writes its clock every
   * 5 ms, over each snapshot, minus its usual interval: the freeze as the sandbox lives it.
   */
  stallMs: number[];
  /** Create (answering when commands can run) of a sandbox restored from the snapshot. */
  restoreMs: number[];
  /** Snapshots that failed, with their reasons; the run carries on without them. */
  failures: string[];
}

const TICKER =
  "nohup sh -c 'while :; do date +%s%N; sleep 0.005; done > /root/ticks' >/dev/null 2>&1 &";

/**
 * For each boot size: a sandbox booted from the volume holding that much data (its root
 * is the volume, so the data is in the snapshot), a ticker process inside it, then `reps`
 * snapshots of it while it runs, each followed by a restore from it.
 */
export async function measureRunningSnapshots(
  d: Stratad,
  boot: readonly BootTimings[],
  reps: number,
  ctx: Context,
): Promise<RunningSnapshotTimings[]> {
  const results: RunningSnapshotTimings[] = [];
  for (const size of boot) {
    ctx.signal.throwIfAborted();
    ctx.log(`stratad: ${reps} snapshots of a running sandbox holding ${size.label}`);
    const sbx = await d.api.createSandbox({ root: `boot-${size.key}` });
    const res: RunningSnapshotTimings = {
      key: size.key,
      label: size.label,
      bytes: size.bytes,
      answerMs: [],
      readyMs: [],
      frozenMs: [],
      stallMs: [],
      restoreMs: [],
      failures: [],
    };
    try {
      await d.api.exec(sbx.id, { command: TICKER });
      for (let i = 0; i < reps; i++) {
        await new Promise((r) => setTimeout(r, 300));
        const mark = Date.now() * 1e6;
        const t0 = performance.now();
        const snap = await d.api.snapshotSandbox(sbx.id, `run-${size.key}-${i}`);
        res.answerMs.push(performance.now() - t0);
        let s = snap;
        while (s.status === "creating") {
          await new Promise((r) => setTimeout(r, 20));
          s = await d.api.getSnapshot(snap.id);
        }
        if (s.status !== "ready") {
          res.failures.push(s.failureReason ?? "no reason");
          continue;
        }
        res.readyMs.push(Date.parse(s.settledAt!) - Date.parse(s.createdAt));
        await new Promise((r) => setTimeout(r, 100));
        const out = await d.api.exec(sbx.id, { command: "cat /root/ticks" });
        const ticks = Buffer.from(out.stdout, "base64")
          .toString()
          .trim()
          .split("\n")
          .map(Number)
          .filter((t) => t >= mark - 50e6);
        const gaps = ticks.slice(1).map((t, j) => (t - ticks[j]!) / 1e6);
        const usual = [...gaps].sort((a, b) => a - b)[Math.floor(gaps.length / 2)] ?? 0;
        res.stallMs.push(Math.max(0, Math.max(...gaps) - usual));
        const r0 = performance.now();
        const restored = await d.api.createSandbox({ fromSnapshot: snap.id });
        res.restoreMs.push(performance.now() - r0);
        await d.api.deleteSandbox(restored.id);
      }
      for (const e of await d.api.sandboxEvents(sbx.id, "snapshot.ready")) {
        const m = /frozen (\d+(?:\.\d+)?) ms/.exec(e.message);
        if (m) res.frozenMs.push(Number(m[1]));
      }
    } finally {
      await d.api.deleteSandbox(sbx.id).catch(() => {});
    }
    for (let i = 0; i < reps; i++)
      await d.api.deleteSnapshot(`run-${size.key}-${i}`).catch(() => {});
    results.push(res);
  }
  return results;
}
