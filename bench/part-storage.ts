/**
 * The storage part of the benchmark: how long snapshots and forks of volumes take through a
 * real stratad, whatever the amount of data, how much pool space a series of snapshots
 * takes, and the same snapshot and fork done with podman alone.
 */
import { join } from "node:path";
import type { Plan } from "./cases.ts";
import { measurePodman, type PodmanTimings } from "./measure-podman.ts";
import {
  type CaseTimings,
  type Context,
  measureSpace,
  measureStrataTimings,
  measureUnflushed,
  type SpaceResult,
} from "./measure-strata.ts";
import { type PodmanScratch, preparePodman } from "./podman.ts";
import {
  formatBytes,
  formatMs,
  formatRange,
  problemLines,
  ratio,
  summarise,
  table,
} from "./report.ts";
import { type DaemonRun, withStratad } from "./stratad.ts";

export interface StorageResults {
  strata: Map<string, CaseTimings>;
  space: SpaceResult | null;
  unflushed: Map<string, number>;
  podman: Map<string, PodmanTimings>;
  podmanSkipped: string | null;
  daemon: DaemonRun;
  /** Why the part stopped before the end, if it did. */
  failure: string | null;
}

/**
 * Runs the storage part on its own stratad under `<workDir>/storage`. Fills `results` as it
 * goes, so that what was measured before a failure is still printed; rethrows the failure.
 */
export async function runStorage(
  options: {
    workDir: string;
    plan: Plan;
    skipPodman: boolean;
    scratch: PodmanScratch;
    ctx: Context;
  },
  results: StorageResults,
): Promise<void> {
  const { plan, ctx } = options;
  await withStratad(
    {
      dir: join(options.workDir, "storage"),
      extraArgs: ["--max-capacity", "20GB", "--pool-size", "64GiB"],
      log: ctx.log,
      run: results.daemon,
    },
    async (stratad) => {
      results.strata = await measureStrataTimings(stratad, plan, ctx);
      results.unflushed = await measureUnflushed(stratad, plan, ctx);
      results.space = await measureSpace(stratad, plan, ctx);
    },
  );
  results.podmanSkipped = options.skipPodman
    ? "skipped (--skip-podman)"
    : await preparePodman({ workDir: options.workDir, log: ctx.log, signal: ctx.signal });
  if (results.podmanSkipped === null) {
    results.podman = await measurePodman(options.scratch, plan, ctx);
  } else {
    ctx.log(`podman: ${results.podmanSkipped}`);
  }
}

export function emptyStorageResults(): StorageResults {
  return {
    strata: new Map(),
    unflushed: new Map(),
    space: null,
    podman: new Map(),
    podmanSkipped: null,
    daemon: { problems: [] },
    failure: null,
  };
}

/** The storage part's printout, as lines. */
export function formatStorageReport(plan: Plan, r: StorageResults): string[] {
  const out: string[] = ["STORAGE"];
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
  if (r.failure) out.push("", `Storage part stopped early: ${r.failure}`);
  out.push(...problemLines(r.daemon.problems));
  return out;
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
