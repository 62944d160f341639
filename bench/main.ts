#!/usr/bin/env node
/**
 * Strata's benchmark, in two parts that each run their own real stratad:
 *
 * - storage: how long snapshots and forks of volumes take whatever the amount of data, how
 *   much pool space a series of snapshots takes, and the same with podman alone;
 * - sandboxes: create → first command → delete against `podman run` and a bare `crun run`,
 *   exec and file round trips, boot time against the data in the root, and density (rate
 *   and memory per idle sandbox);
 * - deno: the official `@deno/sandbox` client against `@strata/sdk` (create, `sh` round
 *   trip, 1 MiB file write and read), side by side.
 *
 * It measures and prints; it never passes or fails on this machine's speed.
 *
 *   npm run bench                        both parts (about 12–15 minutes on 2 cores)
 *   node bench/main.ts --quick           small sizes, few repetitions (while working on it)
 *   node bench/main.ts --only sandboxes  one part: storage, sandboxes or deno
 *   node bench/main.ts --skip-podman     no podman comparisons
 *
 * Needs root, btrfs-progs and loop devices (as stratad does); podman and mmdebstrap for the
 * comparisons, crun for the floor. The sandbox part builds builtin:debian-13 in its daemon
 * (mmdebstrap from the Debian mirror, about 30 s). Everything it makes lives under
 * /var/tmp/strata-bench-<pid> and, for podman, in containers and images named
 * strata-bench-<pid>-*, and is removed at the end; the podman base image `strata-bench-base`
 * of the storage part is kept as a cache (`podman rmi strata-bench-base`).
 */
import { mkdir, rm } from "node:fs/promises";
import { availableParallelism, cpus, loadavg, release, totalmem } from "node:os";
import { parseArgs } from "node:util";
import { FULL, QUICK, SANDBOX_FULL, SANDBOX_QUICK } from "./cases.ts";
import { isMountPoint } from "./host.ts";
import type { Context } from "./measure-strata.ts";
import { emptyDenoResults, formatDenoReport, runDeno } from "./part-deno.ts";
import { emptySandboxResults, runSandboxes, type SandboxResults } from "./part-sandboxes.ts";
import {
  emptyStorageResults,
  formatStorageReport,
  runStorage,
  type StorageResults,
} from "./part-storage.ts";
import { PodmanScratch } from "./podman.ts";
import { formatSandboxReport } from "./report-sandboxes.ts";

const PARTS = ["storage", "sandboxes", "deno"] as const;
type Part = (typeof PARTS)[number];

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean" },
      "skip-podman": { type: "boolean" },
      only: { type: "string" },
    },
  });
  const only = values.only;
  if (only !== undefined && !PARTS.includes(only as Part)) {
    process.stderr.write(
      `bench: unknown part ${JSON.stringify(only)} for --only: expected ${PARTS.join(", ")}\n`,
    );
    return 2;
  }
  const parts = only === undefined ? PARTS : [only as Part];
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
  const skipPodman = values["skip-podman"] ?? false;
  const storage: StorageResults = emptyStorageResults();
  const sandboxes: SandboxResults = emptySandboxResults();
  const deno = emptyDenoResults();
  let failed = false;
  // An interruption is expected: its stack says nothing.
  const describe = (err: unknown) =>
    abort.signal.aborted || !(err instanceof Error) ? String(err) : (err.stack ?? err.message);
  try {
    // Searchable by all (not listable): sandboxes' root, uid 100000 on the host, must reach
    // the pool under it, or crun fails to mount their root ("make … private: Permission denied").
    await mkdir(workDir, { recursive: true, mode: 0o711 });
    if (parts.includes("storage")) {
      const plan = values.quick ? QUICK : FULL;
      await runStorage({ workDir, plan, skipPodman, scratch, ctx }, storage).catch((err) => {
        failed = true;
        storage.failure = describe(err);
        process.stderr.write(`\nbench: storage: ${storage.failure}\n`);
      });
    }
    if (parts.includes("sandboxes") && !abort.signal.aborted) {
      const plan = values.quick ? SANDBOX_QUICK : SANDBOX_FULL;
      await runSandboxes({ workDir, plan, skipPodman, scratch, ctx }, sandboxes).catch((err) => {
        failed = true;
        sandboxes.failure = describe(err);
        process.stderr.write(`\nbench: sandboxes: ${sandboxes.failure}\n`);
      });
    }
    if (parts.includes("deno") && !abort.signal.aborted) {
      const plan = values.quick ? SANDBOX_QUICK : SANDBOX_FULL;
      await runDeno({ workDir, plan, ctx }, deno).catch((err) => {
        failed = true;
        deno.failure = describe(err);
        process.stderr.write(`\nbench: deno: ${deno.failure}\n`);
      });
    }
  } finally {
    log("Cleaning up");
    for (const f of await scratch.cleanup()) process.stderr.write(`bench: cleanup: ${f}\n`);
    if (await stillMounted(workDir)) {
      process.stderr.write(
        `bench: a pool under ${workDir} is still mounted; leaving it in place\n`,
      );
    } else {
      await rm(workDir, { recursive: true, force: true });
    }
  }

  const out: string[] = ["", hostLine()];
  if (parts.includes("storage"))
    out.push("", ...formatStorageReport(values.quick ? QUICK : FULL, storage));
  if (parts.includes("sandboxes"))
    out.push("", ...formatSandboxReport(values.quick ? SANDBOX_QUICK : SANDBOX_FULL, sandboxes));
  if (parts.includes("deno"))
    out.push("", ...formatDenoReport(values.quick ? SANDBOX_QUICK : SANDBOX_FULL, deno));
  out.push("", `Total run time: ${((performance.now() - started) / 1000).toFixed(0)} s`);
  process.stdout.write(`${out.join("\n")}\n`);
  return failed ? 1 : 0;
}

/** What the figures were measured on. */
function hostLine(): string {
  const cpus = availableParallelism();
  const model = cpuModel();
  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
  return `Host: ${cpus} CPUs${model ? ` (${model})` : ""}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Linux ${release()}; load average at the end ${load}`;
}

function cpuModel(): string | undefined {
  return cpus()[0]?.model.trim();
}

async function stillMounted(workDir: string): Promise<boolean> {
  for (const part of PARTS) if (await isMountPoint(`${workDir}/${part}/data/pool`)) return true;
  return false;
}

process.exitCode = await main();
