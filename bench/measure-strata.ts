import { join } from "node:path";
import type { DataCase, Plan } from "./cases.ts";
import { overwriteRandom, syncAll, timed, writeRandomFiles } from "./host.ts";
import type { FilesystemUsage } from "./parse.ts";
import { poolUsage, type Stratad } from "./stratad.ts";

export interface Context {
  log: (msg: string) => void;
  signal: AbortSignal;
}

export interface CaseTimings {
  /** Milliseconds of each `POST /v1/volumes/{id}/snapshots`. */
  snapshotMs: number[];
  /** Milliseconds of each `POST /v1/volumes` with `from: <snapshot>`. */
  forkMs: number[];
  files: number;
  /** `flattenedSize` stratad reported for the first snapshot (shows it holds the data). */
  snapshotFlattenedBytes: number;
}

export interface SpaceResult {
  before: FilesystemUsage;
  filled: FilesystemUsage;
  after: FilesystemUsage;
  snapshotMs: number[];
  sumAllocated: number;
  sumFlattened: number;
  snapshotsListed: number;
  volumeAllocated: number;
  volumeFlattened: number;
}

const REGION = "local";

/**
 * Snapshot and fork timings per data case, through stratad's API. The data is written into
 * each volume's layer on the host and synced first, so a timing holds only the snapshot or
 * clone (plus the request and the accounting read stratad does to answer it). Repetitions go
 * round-robin over the cases, so that any drift of the machine spreads over all sizes alike.
 */
export async function measureStrataTimings(
  d: Stratad,
  plan: Plan,
  ctx: Context,
): Promise<Map<string, CaseTimings>> {
  // The first requests pay for JIT compilation and schema compilation: keep them out.
  ctx.log("stratad: warm-up (volume, snapshot, fork)");
  await d.api.createVolume({ slug: "warmup", region: REGION, capacity: plan.capacity });
  await d.api.snapshotVolume("warmup", "warmup-snap");
  await d.api.createVolume({
    slug: "warmup-fork",
    region: REGION,
    capacity: plan.capacity,
    from: "warmup-snap",
  });

  const results = new Map<string, CaseTimings>();
  for (const c of plan.cases) {
    ctx.signal.throwIfAborted();
    const volume = await d.api.createVolume({
      slug: `vol-${c.key}`,
      region: REGION,
      capacity: plan.capacity,
    });
    ctx.log(`stratad: writing ${c.label} into volume vol-${c.key} (${volume.id})`);
    const files = await writeRandomFiles(join(d.layerPath(volume.id), "data"), {
      totalBytes: c.bytes,
      fileBytes: c.fileBytes,
      signal: ctx.signal,
    });
    results.set(c.key, { snapshotMs: [], forkMs: [], files, snapshotFlattenedBytes: 0 });
  }
  await syncAll(ctx.signal);

  ctx.log(`stratad: ${plan.strataReps} snapshots of each volume`);
  for (let r = 0; r < plan.strataReps; r++) {
    for (const c of plan.cases) {
      ctx.signal.throwIfAborted();
      const res = results.get(c.key)!;
      const { ms, value } = await timed(() => d.api.snapshotVolume(`vol-${c.key}`, snapSlug(c, r)));
      res.snapshotMs.push(ms);
      if (r === 0) res.snapshotFlattenedBytes = value.flattenedSize;
    }
  }

  ctx.log(`stratad: ${plan.strataReps} volumes forked from each first snapshot`);
  for (let r = 0; r < plan.strataReps; r++) {
    for (const c of plan.cases) {
      ctx.signal.throwIfAborted();
      const { ms } = await timed(() =>
        d.api.createVolume({
          slug: `fork-${c.key}-${r}`,
          region: REGION,
          capacity: plan.capacity,
          from: snapSlug(c, 0),
        }),
      );
      results.get(c.key)!.forkMs.push(ms);
    }
  }
  return results;
}

/**
 * One snapshot per case taken right after the data is written, before it reached the disk:
 * btrfs flushes a subvolume's dirty data as part of snapshotting it, so unlike the synced
 * timings above this one grows with the amount of unflushed data. Cases up to 1 GiB only.
 */
export async function measureUnflushed(
  d: Stratad,
  plan: Plan,
  ctx: Context,
): Promise<Map<string, number>> {
  const results = new Map<string, number>();
  for (const c of plan.cases.filter((c) => c.inRatio && c.bytes <= 2 ** 30)) {
    ctx.signal.throwIfAborted();
    const slug = `dirty-${c.key}`;
    const volume = await d.api.createVolume({ slug, region: REGION, capacity: plan.capacity });
    await syncAll(ctx.signal);
    ctx.log(`stratad: writing ${c.label} into volume ${slug}, then snapshotting it without a sync`);
    await writeRandomFiles(join(d.layerPath(volume.id), "data"), {
      totalBytes: c.bytes,
      fileBytes: c.fileBytes,
      signal: ctx.signal,
    });
    const { ms } = await timed(() => d.api.snapshotVolume(slug, `${slug}-snap`));
    results.set(c.key, ms);
  }
  await syncAll(ctx.signal);
  return results;
}

function snapSlug(c: DataCase, rep: number): string {
  return `snap-${c.key}-${rep}`;
}

/**
 * Pool space taken by a series of snapshots of one volume with a small change between each:
 * writes `baseBytes` as one file, then `snapshots` times overwrites `changeBytes` of it in
 * place (a different region each time, spread over the file) and snapshots. Space comes
 * from the filesystem (`btrfs filesystem usage`), and, for comparison, from what the API reports.
 */
export async function measureSpace(d: Stratad, plan: Plan, ctx: Context): Promise<SpaceResult> {
  const { baseBytes, changeBytes, snapshots } = plan.space;
  const volume = await d.api.createVolume({
    slug: "space",
    region: REGION,
    capacity: plan.capacity,
  });
  await syncAll(ctx.signal);
  const before = await poolUsage(d.poolMount);
  ctx.log(`stratad: space test: writing ${baseBytes / 2 ** 20} MiB into volume "space"`);
  const dir = join(d.layerPath(volume.id), "data");
  await writeRandomFiles(dir, { totalBytes: baseBytes, fileBytes: baseBytes, signal: ctx.signal });
  await syncAll(ctx.signal);
  const filled = await poolUsage(d.poolMount);

  ctx.log(`stratad: space test: ${snapshots} × (overwrite ${changeBytes / 2 ** 20} MiB, snapshot)`);
  const file = join(dir, "d000", "f00000");
  const stride = Math.floor(baseBytes / snapshots / 4096) * 4096;
  if (stride < changeBytes)
    throw new Error(
      `Space test: ${snapshots} changes of ${changeBytes} bytes do not fit apart in ${baseBytes} bytes`,
    );
  const snapshotMs: number[] = [];
  for (let i = 0; i < snapshots; i++) {
    ctx.signal.throwIfAborted();
    await overwriteRandom(file, { offset: i * stride, length: changeBytes });
    await syncAll(ctx.signal);
    const { ms } = await timed(() =>
      d.api.snapshotVolume("space", `space-${String(i).padStart(2, "0")}`),
    );
    snapshotMs.push(ms);
  }
  const after = await poolUsage(d.poolMount);
  const listed = await d.api.listSnapshots("space-");
  const vol = await d.api.getVolume("space");
  return {
    before,
    filled,
    after,
    snapshotMs,
    sumAllocated: listed.reduce((s, x) => s + x.allocatedSize, 0),
    sumFlattened: listed.reduce((s, x) => s + x.flattenedSize, 0),
    snapshotsListed: listed.length,
    volumeAllocated: vol.estimatedAllocatedSize,
    volumeFlattened: vol.estimatedFlattenedSize,
  };
}
