/**
 * The sandbox part of the benchmark: sandbox create → first command → delete against
 * `podman run` and a bare `crun run`, exec and file round trips, boot time against the data
 * in the root, and how many idle sandboxes a host holds and at what memory cost.
 */
import { join } from "node:path";
import type { SandboxPlan } from "./cases.ts";
import { hasCommand } from "./host.ts";
import {
  copyImageRootfs,
  importPodmanImage,
  measureFloor,
  measurePodmanRun,
  prepareFloor,
  type RunCycle,
} from "./measure-containers.ts";
import { type DensityResult, measureDensity } from "./measure-density.ts";
import {
  measureRunningSnapshots,
  type RunningSnapshotTimings,
} from "./measure-running-snapshots.ts";
import {
  type BootTimings,
  type CycleTimings,
  type IoTimings,
  measureBoot,
  measureCycles,
  measureIo,
  prepareBase,
  type SandboxBase,
} from "./measure-sandboxes.ts";
import type { Context } from "./measure-strata.ts";
import type { PodmanScratch } from "./podman.ts";
import { type DaemonRun, withStratad } from "./stratad.ts";

export interface SandboxResults {
  base: SandboxBase | null;
  cycles: CycleTimings | null;
  io: IoTimings | null;
  /** podman (default network, then --network none) and the crun floor; absent: not reached. */
  others: RunCycle[];
  boot: BootTimings[];
  running: RunningSnapshotTimings[];
  density: DensityResult | null;
  daemon: DaemonRun;
  failure: string | null;
}

export function emptySandboxResults(): SandboxResults {
  return {
    base: null,
    cycles: null,
    io: null,
    others: [],
    boot: [],
    running: [],
    density: null,
    daemon: { problems: [] },
    failure: null,
  };
}

/**
 * Runs the sandbox part on its own stratad under `<workDir>/sandboxes`. Fills `results` as it
 * goes, so that what was measured before a failure is still printed; rethrows the failure.
 * podman and the floor run while the daemon is up but has no sandboxes.
 */
export async function runSandboxes(
  options: {
    workDir: string;
    plan: SandboxPlan;
    skipPodman: boolean;
    scratch: PodmanScratch;
    ctx: Context;
  },
  results: SandboxResults,
): Promise<void> {
  const { plan, ctx } = options;
  const dir = join(options.workDir, "sandboxes");
  await withStratad(
    {
      dir,
      extraArgs: ["--max-capacity", "20GB", "--pool-size", "64GiB"],
      log: ctx.log,
      run: results.daemon,
    },
    async (d) => {
      const base = await prepareBase(d, ctx);
      results.base = base;
      results.cycles = await measureCycles(d, base, plan, ctx);
      results.io = await measureIo(d, base, plan, ctx);

      ctx.log("Copying the builtin:debian-13 layer for podman and the crun floor");
      const rootfs = join(options.workDir, "trixie-rootfs");
      await copyImageRootfs(base.imageLayerPath, rootfs);
      if (options.skipPodman) {
        results.others.push(skipped("podman run --rm", "skipped (--skip-podman)"));
      } else if (!(await hasCommand("podman"))) {
        results.others.push(skipped("podman run --rm", "podman is not installed"));
      } else {
        ctx.log("podman: importing the rootfs as an image");
        const image = await importPodmanImage(options.scratch, rootfs, options.workDir, ctx.signal);
        for (const network of ["default", "none"] as const) {
          const label = `podman run --rm (network ${network})`;
          // podman failing on this host is a result to print, not a reason to stop the part.
          results.others.push(
            await measurePodmanRun(options.scratch, image, {
              runs: plan.podmanRuns,
              network,
              ctx,
            }).catch((err: unknown) => skipped(label, (err as Error).message)),
          );
        }
        await options.scratch.removeImage(image);
      }
      const floor = await prepareFloor(rootfs, options.workDir);
      if (typeof floor === "string") results.others.push(skipped("crun run (floor)", floor));
      else {
        const r = await measureFloor(floor, plan.floorRuns, ctx);
        r.notes.push(`The floor includes: ${floor.includes}`);
        results.others.push(r);
      }

      results.boot = await measureBoot(d, plan, ctx);
      results.running = await measureRunningSnapshots(d, results.boot, plan.runningSnapshots, ctx);
      results.density = await measureDensity(d, base, plan, ctx);
    },
  );
}

function skipped(label: string, why: string): RunCycle {
  return { label, command: label, ms: [], error: why, notes: [] };
}
