#!/usr/bin/env node
/**
 * Storage benchmark: how long snapshots and forks of volumes take through a real stratad,
 * whatever the amount of data, how much pool space a series of snapshots takes, and the same
 * snapshot and fork done with podman alone. It measures and prints; it never passes or fails
 * on this machine's speed.
 *
 *   npm run bench                      full run (about 5–8 minutes on 2 cores)
 *   node bench/main.ts --quick         small sizes, few repetitions (while working on it)
 *   node bench/main.ts --skip-podman   stratad only
 *
 * Needs root, btrfs-progs and loop devices (as stratad does); podman and mmdebstrap for the
 * comparison. Everything it makes lives under /var/tmp/strata-bench-<pid> and, for podman,
 * in containers and images named strata-bench-<pid>-*, and is removed at the end; the
 * podman base image `strata-bench-base` is kept as a cache (`podman rmi strata-bench-base`).
 */
import { mkdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { FULL, type Plan, QUICK } from "./cases.ts";
import { isMountPoint } from "./host.ts";
import { measurePodman, type PodmanTimings } from "./measure-podman.ts";
import {
  type CaseTimings,
  type Context,
  measureSpace,
  measureStrataTimings,
  measureUnflushed,
  type SpaceResult,
} from "./measure-strata.ts";
import { PodmanScratch, preparePodman } from "./podman.ts";
import { formatBytes, formatMs, formatRange, ratio, summarise, table } from "./report.ts";
import { type Stratad, startStratad } from "./stratad.ts";

interface Results {
  strata: Map<string, CaseTimings>;
  space: SpaceResult | null;
  unflushed: Map<string, number>;
  podman: Map<string, PodmanTimings>;
  podmanSkipped: string | null;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { quick: { type: "boolean" }, "skip-podman": { type: "boolean" } },
  });
  const plan = values.quick ? QUICK : FULL;
  const started = performance.now();
  const log = (msg: string) =>
    process.stderr.write(
      `[${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${msg}\n`,
    );

  const abort = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (abort.signal.aborted) return log(`${sig} again: still cleaning up`);
    log(`${sig}: stopping and cleaning up`);
    abort.abort(new Error(`Interrupted by ${sig}`));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const ctx: Context = { log, signal: abort.signal };

  const workDir = `/var/tmp/strata-bench-${process.pid}`;
  const scratch = new PodmanScratch(`strata-bench-${process.pid}`);
  let stratad: Stratad | undefined;
  const results: Results = {
    strata: new Map(),
    unflushed: new Map(),
    space: null,
    podman: new Map(),
    podmanSkipped: null,
  };
  let failed = false;
  try {
    await mkdir(workDir, { recursive: true, mode: 0o700 });
    log(`Starting stratad on ${workDir}/data`);
    stratad = await startStratad({
      dataDir: join(workDir, "data"),
      logFile: join(workDir, "stratad.log"),
      extraArgs: ["--max-capacity", "20GB", "--pool-size", "64GiB"],
    });
    log(`stratad listening on ${stratad.url}`);
    results.strata = await measureStrataTimings(stratad, plan, ctx);
    results.unflushed = await measureUnflushed(stratad, plan, ctx);
    results.space = await measureSpace(stratad, plan, ctx);

    results.podmanSkipped = values["skip-podman"]
      ? "skipped (--skip-podman)"
      : await preparePodman({ workDir, log, signal: abort.signal });
    if (results.podmanSkipped === null) {
      results.podman = await measurePodman(scratch, plan, ctx);
    } else {
      log(`podman: ${results.podmanSkipped}`);
    }
  } catch (err) {
    failed = true;
    // An interruption is expected: its stack says nothing.
    const detail =
      abort.signal.aborted || !(err instanceof Error) ? String(err) : (err.stack ?? err.message);
    process.stderr.write(`\nbench: ${detail}\n`);
  } finally {
    log("Cleaning up");
    for (const f of await scratch.cleanup()) process.stderr.write(`bench: cleanup: ${f}\n`);
    if (stratad) {
      await stratad.stop().catch((e: unknown) => {
        process.stderr.write(`bench: stopping stratad: ${String(e)}\n`);
      });
    }
    const problems = await daemonProblems(join(workDir, "stratad.log"));
    if (problems.length) {
      process.stderr.write(`stratad logged ${problems.length} warnings or errors:\n`);
      for (const p of problems.slice(0, 10)) process.stderr.write(`  ${p}\n`);
    }
    const pool = join(workDir, "data", "pool");
    if (await isMountPoint(pool)) {
      process.stderr.write(`bench: ${pool} is still mounted; leaving ${workDir} in place\n`);
    } else {
      await rm(workDir, { recursive: true, force: true });
    }
  }

  printReport(plan, results, (performance.now() - started) / 1000);
  return failed ? 1 : 0;
}

function printReport(plan: Plan, r: Results, seconds: number): void {
  const out: string[] = [];
  const median = (xs: number[] | undefined) => summarise(xs ?? [])?.median;
  if (r.strata.size > 0) {
    const rows: string[][] = [];
    const op = (
      name: string,
      strata: (t: CaseTimings) => number[],
      podman: (t: PodmanTimings) => number[],
    ) => {
      for (const c of plan.cases) {
        const s = summarise(strata(r.strata.get(c.key) ?? emptyStrata()));
        const p = summarise(podman(r.podman.get(c.key) ?? emptyPodman()));
        rows.push([
          name,
          c.label,
          s ? formatMs(s.median) : "—",
          formatRange(s),
          p ? formatMs(p.median) : "—",
          formatRange(p),
          ratio(p?.median, s?.median),
        ]);
      }
    };
    op(
      "snapshot",
      (t) => t.snapshotMs,
      (t) => t.commitMs,
    );
    op(
      "fork (volume from snapshot)",
      (t) => t.forkMs,
      (t) => t.createMs,
    );
    out.push(
      "Timings in ms. stratad: POST /v1/volumes/{id}/snapshots and POST /v1/volumes {from}, over HTTP.",
      "podman: `podman commit` of a container holding the same data, and `podman create` from that image.",
      table(
        [
          "operation",
          "data",
          "stratad median",
          "stratad min–max",
          "podman median",
          "podman min–max",
          "podman/stratad",
        ],
        rows,
      ),
    );

    const ratioCases = plan.cases.filter((c) => c.inRatio);
    const small = ratioCases[0]!;
    const large = ratioCases[ratioCases.length - 1]!;
    const line = (what: string, get: (k: string) => number | undefined, goal: string) =>
      `  ${what.padEnd(26)} ${ratio(get(large.key), get(small.key)).padStart(8)}   ${goal}`;
    out.push(
      "",
      `Largest / smallest (${large.label} / ${small.label}, medians):`,
      line("stratad snapshot", (k) => median(r.strata.get(k)?.snapshotMs), "goal ≤ 1.5 (O(1))"),
      line("stratad fork", (k) => median(r.strata.get(k)?.forkMs), "goal ≤ 1.5 (O(1))"),
      line("podman commit", (k) => median(r.podman.get(k)?.commitMs), ""),
      line("podman create", (k) => median(r.podman.get(k)?.createMs), ""),
      "",
      "Data as written: " +
        plan.cases
          .map((c) => {
            const t = r.strata.get(c.key);
            return `${c.label}: ${t?.files ?? "?"} files, snapshot flattenedSize ${t ? formatBytes(t.snapshotFlattenedBytes) : "?"}`;
          })
          .join("; "),
    );
    const imageSizes = plan.cases
      .filter((c) => r.podman.has(c.key))
      .map((c) => `${c.label}: ${formatBytes(r.podman.get(c.key)!.imageBytes)}`);
    if (imageSizes.length)
      out.push(`podman image sizes (base image included): ${imageSizes.join("; ")}`);
  }
  if (r.unflushed.size > 0) {
    out.push(
      "",
      "stratad snapshot right after writing, before the data reached disk (btrfs flushes the volume's",
      "dirty data as part of the snapshot, so this part is not O(1); one run each, not in the ratios):",
      ...plan.cases
        .filter((c) => r.unflushed.has(c.key))
        .map((c) => `  ${c.label.padEnd(10)} ${formatMs(r.unflushed.get(c.key)!).padStart(8)} ms`),
    );
  }
  if (r.podmanSkipped) out.push(`podman: ${r.podmanSkipped}`);

  if (r.space) {
    const s = r.space;
    const { baseBytes, changeBytes, snapshots } = plan.space;
    const grew = s.after.usedBytes - s.before.usedBytes;
    const naive = snapshots * baseBytes;
    const ideal = baseBytes + snapshots * changeBytes;
    const st = summarise(s.snapshotMs);
    out.push(
      "",
      `Pool space: one ${formatBytes(baseBytes)} volume, then ${snapshots} × (overwrite ${formatBytes(changeBytes)} in place, snapshot).`,
      "Figures from `btrfs filesystem usage -b` after `btrfs filesystem sync`; deltas from before the data was written.",
      table(
        ["figure", "bytes", "size"],
        [
          row("pool used, volume still empty (data + metadata)", s.before.usedBytes),
          row(
            `  + after writing ${formatBytes(baseBytes)}`,
            s.filled.usedBytes - s.before.usedBytes,
          ),
          row(`  + after the ${snapshots} changes and snapshots`, grew),
          row("    of which file data", s.after.dataUsedBytes - s.before.dataUsedBytes),
          row(
            "    of which metadata (one copy; DUP stores two)",
            s.after.metadataUsedBytes - s.before.metadataUsedBytes,
          ),
          row(
            `ideal: ${formatBytes(baseBytes)} + ${snapshots} × ${formatBytes(changeBytes)}`,
            ideal,
          ),
          row(`naive: ${snapshots} full copies`, naive),
          row(
            `GET /v1/snapshots: Σ allocatedSize (${s.snapshotsListed} snapshots)`,
            s.sumAllocated,
          ),
          row("GET /v1/snapshots: Σ flattenedSize", s.sumFlattened),
          row("GET /v1/volumes/space: estimatedAllocatedSize", s.volumeAllocated),
          row("GET /v1/volumes/space: estimatedFlattenedSize", s.volumeFlattened),
        ],
      ),
      `  growth / ideal ${ratio(grew, ideal)}, growth / naive ${ratio(grew, naive)}`,
      `  snapshot after each change: median ${st ? formatMs(st.median) : "—"} ms, ${formatRange(st)}`,
    );
  }
  out.push("", `Total run time: ${seconds.toFixed(0)} s`);
  process.stdout.write(`\n${out.join("\n")}\n`);
}

/** Warnings and errors in stratad's JSON log (pino levels 40 and up), as one line each. */
async function daemonProblems(logFile: string): Promise<string[]> {
  const text = await readFile(logFile, "utf8").catch(() => "");
  const found: string[] = [];
  for (const line of text.split("\n")) {
    try {
      const entry = JSON.parse(line) as {
        level?: number;
        msg?: string;
        err?: { message?: string };
      };
      if ((entry.level ?? 0) >= 40)
        found.push(
          `${entry.level === 40 ? "warn" : "error"}: ${entry.msg ?? ""}${entry.err?.message ? ` (${entry.err.message})` : ""}`,
        );
    } catch {}
  }
  return found;
}

function row(label: string, bytes: number): string[] {
  return [label, String(bytes), formatBytes(bytes)];
}

function emptyStrata(): CaseTimings {
  return { snapshotMs: [], forkMs: [], files: 0, snapshotFlattenedBytes: 0 };
}

function emptyPodman(): PodmanTimings {
  return { commitMs: [], createMs: [], imageBytes: 0 };
}

process.exitCode = await main();
