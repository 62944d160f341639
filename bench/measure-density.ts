import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { SandboxPlan } from "./cases.ts";
import { run } from "./host.ts";
import { type Failures, noFailures, noteFailure, type SandboxBase } from "./measure-sandboxes.ts";
import type { Context } from "./measure-strata.ts";
import { parseKbFields, parseKeyValues } from "./parse.ts";
import type { Stratad } from "./stratad.ts";

/** Kernel stack of one thread on x86-64 (THREAD_SIZE); not in any per-process figure. */
const KERNEL_STACK_BYTES = 16 * 1024;

/** Host memory and the daemon's own, at one moment. */
export interface MemorySample {
  /** `/proc/meminfo`, in bytes. */
  meminfo: Map<string, number>;
  /** `/proc/<daemon>/status`, in bytes. */
  daemon: Map<string, number>;
}

/** What the processes inside the sandboxes hold themselves, summed over every sandbox. */
export interface InsideMemory {
  cgroupsFound: number;
  processes: number;
  /** Σ (RssAnon + RssShmem + VmPTE + threads × kernel stack) of those processes. */
  ownBytes: number;
  /** Σ `memory.usage_in_bytes` of the sandboxes' memory cgroups (page cache and kmem included). */
  cgroupUsageBytes: number;
  /** Σ `rss` of their `memory.stat` (anonymous memory charged to them). */
  cgroupRssBytes: number;
}

export interface DensityResult {
  target: number;
  concurrency: number;
  created: number;
  /** Latency of each create, in the order they were started. */
  createMs: number[];
  createWallMs: number;
  deleteMs: number[];
  deleteWallMs: number;
  /** Creates and deletes that failed; the run carries on without them. */
  failures: Failures;
  before: MemorySample;
  full: MemorySample;
  after: MemorySample;
  inside: InsideMemory;
  /** Host objects of this daemon that remained after every sandbox was deleted (none expected). */
  /** How long after the last DELETE answered the host was as before (background removal). */
  cleanMs: number;
  leftovers: string[];
}

/**
 * Starts `density` idle sandboxes from the base snapshot, `concurrency` creates in flight at
 * a time, samples memory with all of them running, deletes them all the same way, then
 * looks for anything of theirs left on the host. A create that fails is noted and skipped.
 */
export async function measureDensity(
  d: Stratad,
  base: SandboxBase,
  plan: SandboxPlan,
  ctx: Context,
): Promise<DensityResult> {
  // The sandboxes of the parts before are deleted, but their host state may still be on
  // its way out (removed in the background): the baseline is a host without any.
  let hostBefore = await hostObjects(d);
  for (const t = performance.now(); performance.now() - t < 30_000; ) {
    if (![...hostBefore.objects].some((o) => /^(crun|bundles|root) sbx_/.test(o))) break;
    await new Promise((r) => setTimeout(r, 50));
    hostBefore = await hostObjects(d);
  }
  const before = await sampleMemory(d.pid);
  const ids: (string | undefined)[] = new Array(plan.density).fill(undefined);
  const failures = noFailures();
  const createMs: number[] = [];

  ctx.log(
    `stratad: density: creating ${plan.density} sandboxes, ${plan.densityConcurrency} at a time`,
  );
  const t0 = performance.now();
  await inParallel(plan.density, plan.densityConcurrency, async (i) => {
    if (ctx.signal.aborted) return;
    const start = performance.now();
    try {
      ids[i] = (await d.api.createSandbox({ root: base.snapshot })).id;
      createMs[i] = performance.now() - start;
    } catch (err) {
      noteFailure(failures, err);
    }
  });
  const createWallMs = performance.now() - t0;
  const live = ids.filter((x): x is string => x !== undefined);
  ctx.log(`stratad: density: ${live.length} running; sampling memory`);
  const full = await sampleMemory(d.pid);
  const inside = await insideMemory(d.prefix, live);

  ctx.log(
    `stratad: density: deleting ${live.length} sandboxes, ${plan.densityConcurrency} at a time`,
  );
  const deleteMs: number[] = [];
  const t1 = performance.now();
  await inParallel(live.length, plan.densityConcurrency, async (i) => {
    const start = performance.now();
    try {
      await d.api.deleteSandbox(live[i]!);
      deleteMs[i] = performance.now() - start;
    } catch (err) {
      noteFailure(failures, err);
    }
  });
  const deleteWallMs = performance.now() - t1;
  // DELETE answers once a sandbox's processes are gone; its host state goes right after,
  // in the background. Wait (up to 30 s) until the host is as it was, and say how long.
  const t2 = performance.now();
  let hostAfter = await hostObjects(d);
  while (leftoversOf(hostBefore, hostAfter).length > 0 && performance.now() - t2 < 30_000) {
    await new Promise((r) => setTimeout(r, 50));
    hostAfter = await hostObjects(d);
  }
  const cleanMs = performance.now() - t2;
  const after = await sampleMemory(d.pid);
  return {
    target: plan.density,
    concurrency: plan.densityConcurrency,
    created: live.length,
    createMs: createMs.filter((x) => x !== undefined),
    createWallMs,
    deleteMs: deleteMs.filter((x) => x !== undefined),
    deleteWallMs,
    failures,
    before,
    full,
    after,
    inside,
    cleanMs,
    leftovers: leftoversOf(hostBefore, hostAfter),
  };
}

type HostObjects = Awaited<ReturnType<typeof hostObjects>>;

function leftoversOf(before: HostObjects, after: HostObjects): string[] {
  return [
    ...[...after.objects].filter((x) => !before.objects.has(x)),
    ...(after.nftLines === before.nftLines
      ? []
      : [`nft tables: ${before.nftLines} lines before, ${after.nftLines} after`]),
  ];
}

/** Runs `fn(0..count-1)` with at most `concurrency` calls in flight. */
async function inParallel(
  count: number,
  concurrency: number,
  fn: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

async function sampleMemory(daemonPid: number): Promise<MemorySample> {
  return {
    meminfo: parseKbFields(await readFile("/proc/meminfo", "utf8")),
    daemon: parseKbFields(await readFile(`/proc/${daemonPid}/status`, "utf8")),
  };
}

/**
 * Memory that cannot be dropped: MemTotal − MemFree − Buffers − (Cached − Shmem) −
 * SReclaimable, i.e. anonymous memory, shmem/tmpfs and unreclaimable kernel memory. Page
 * cache and reclaimable slab (dentries, inodes) are left out: they come and go with I/O.
 */
export function pinnedBytes(m: Map<string, number>): number {
  const f = (k: string) => m.get(k) ?? 0;
  return (
    f("MemTotal") - f("MemFree") - f("Buffers") - (f("Cached") - f("Shmem")) - f("SReclaimable")
  );
}

/** Sums what the processes in the sandboxes' memory cgroups (`/<prefix>/<id>`) hold. */
async function insideMemory(prefix: string, ids: readonly string[]): Promise<InsideMemory> {
  const res: InsideMemory = {
    cgroupsFound: 0,
    processes: 0,
    ownBytes: 0,
    cgroupUsageBytes: 0,
    cgroupRssBytes: 0,
  };
  for (const id of ids) {
    const dir = join("/sys/fs/cgroup/memory", prefix, id);
    const procs = await readFile(join(dir, "cgroup.procs"), "utf8").catch(() => undefined);
    if (procs === undefined) continue;
    res.cgroupsFound++;
    res.cgroupUsageBytes += Number(await readFile(join(dir, "memory.usage_in_bytes"), "utf8"));
    res.cgroupRssBytes +=
      parseKeyValues(await readFile(join(dir, "memory.stat"), "utf8")).get("rss") ?? 0;
    for (const pid of procs.split("\n").filter(Boolean)) {
      const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => undefined);
      if (status === undefined) continue; // exited meanwhile
      const s = parseKbFields(status);
      const f = (k: string) => s.get(k) ?? 0;
      res.processes++;
      res.ownBytes += f("RssAnon") + f("RssShmem") + f("VmPTE") + f("Threads") * KERNEL_STACK_BYTES;
    }
  }
  return res;
}

/**
 * This daemon's per-sandbox host objects, as `kind name` strings: netns, veths, cgroups
 * (every hierarchy), crun state and bundles, ephemeral roots in the pool, and the lines of
 * its nft tables (counted).
 */
async function hostObjects(d: Stratad): Promise<{ objects: Set<string>; nftLines: number }> {
  const found = new Set<string>();
  const list = async (dir: string) => readdir(dir).catch(() => [] as string[]);
  const p = d.prefix;
  // The daemon keeps a few networks made ahead (netns `<prefix>-pool…`, veth labelled
  // `sbx_pool…`): they belong to no sandbox, so they are not leftovers.
  for (const n of await list("/run/netns"))
    if (n.startsWith(`${p}-`) && !n.startsWith(`${p}-pool`)) found.add(`netns ${n}`);
  for (const n of await list("/sys/class/net")) {
    if (!n.startsWith(`${p}-`)) continue;
    const alias = await readFile(`/sys/class/net/${n}/ifalias`, "utf8").catch(() => "");
    if (!alias.startsWith("sbx_pool")) found.add(`veth ${n}`);
  }
  for (const h of await list("/sys/fs/cgroup")) {
    const entries = await readdir(join("/sys/fs/cgroup", h, p), { withFileTypes: true }).catch(
      () => [],
    );
    for (const e of entries) if (e.isDirectory()) found.add(`cgroup ${h}/${p}/${e.name}`);
  }
  for (const sub of ["crun", "bundles"])
    for (const n of await list(join("/run", p, sub))) found.add(`${sub} ${n}`);
  for (const n of await list(join(d.poolMount, "strata", "writable")))
    if (n.startsWith("sbx_")) found.add(`root ${n}`);
  let lines = 0;
  for (const family of ["inet", "bridge"]) {
    const text = await run(["nft", "list", "table", family, p]).catch(() => "");
    lines += text.split("\n").filter((l) => l.trim()).length;
  }
  return { objects: found, nftLines: lines };
}
