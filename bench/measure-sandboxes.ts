import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import type { SandboxPlan } from "./cases.ts";
import { run, syncAll, timed, writeRandomFiles } from "./host.ts";
import type { Context } from "./measure-strata.ts";
import { measureSdkOverhead, type SdkOverheadResult } from "./sdk-overhead.ts";
import type { Stratad } from "./stratad.ts";

const REGION = "local";
const IMAGE = "builtin:debian-13";
/** The sandboxes' root user on the host (the daemon's fixed user-namespace map). */
const SANDBOX_ROOT_ID = 100_000;

/**
 * Operations that failed during a measurement: it carries on without their samples, so one
 * flaky create does not cost the whole run; the printout shows how many and why.
 */
export interface Failures {
  count: number;
  /** Up to three distinct messages, sandbox and request ids masked. */
  messages: string[];
}

export function noFailures(): Failures {
  return { count: 0, messages: [] };
}

export function noteFailure(f: Failures, err: unknown): void {
  f.count++;
  const msg = (err instanceof Error ? err.message : String(err))
    .replace(/sbx_[0-9a-z]{20}/g, "sbx_…")
    .replace(/req_[0-9a-z]+/g, "req_…");
  if (f.messages.length < 3 && !f.messages.includes(msg)) f.messages.push(msg);
}

/** The bootable snapshot every sandbox of the benchmark starts from, and where it came from. */
export interface SandboxBase {
  /** Slug of a snapshot of a volume made from builtin:debian-13, nothing added. */
  snapshot: string;
  /** The read-only layer of builtin:debian-13 in the pool, for podman and the crun floor. */
  imageLayerPath: string;
  /** How long the volume took to become ready, the first build of the image included. */
  volumeReadyMs: number;
}

export interface CycleTimings {
  /** `POST /v1/sandboxes {root: <snapshot>}`, until the 201. */
  createMs: number[];
  /** `POST /v1/sandboxes/{id}/exec {argv: ["echo", "hi"]}`, until its output is back. */
  execMs: number[];
  /** `DELETE /v1/sandboxes/{id}`, until the 204. */
  deleteMs: number[];
  /** The three together, per cycle. */
  totalMs: number[];
  /** Cycles that failed (not timed); the run carries on until it has its count or twice as many tries. */
  failures: Failures;
}

export interface IoTimings {
  /** `exec {argv: ["true"]}` round trips on one running sandbox. */
  execMs: number[];
  /** `PUT …/files/content` of the file. */
  writeMs: number[];
  /** `GET …/files/content` of the same file, bytes compared afterwards. */
  readMs: number[];
  /** The SDK's `sh` against the same raw `POST /exec` (issue 4's overhead figure). */
  sdk: SdkOverheadResult | null;
  failures: Failures;
}

export interface BootTimings {
  key: string;
  label: string;
  bytes: number;
  createMs: number[];
  deleteMs: number[];
  failures: Failures;
}

/**
 * Makes the base snapshot: a volume from builtin:debian-13 (the daemon builds the image
 * first, once: 202, then the volume turns ready), snapshotted as it is.
 */
export async function prepareBase(d: Stratad, ctx: Context): Promise<SandboxBase> {
  ctx.log(`stratad: volume from ${IMAGE} (builds the image the first time, ~30 s)`);
  const { ms, value: volume } = await timed(async () => {
    const created = await d.api.createVolume({
      slug: "sbx-base",
      region: REGION,
      capacity: "2GB",
      from: IMAGE,
    });
    return waitReady(d, created.id, ctx);
  });
  await d.api.snapshotVolume(volume.id, "sbx-base-snap");
  return {
    snapshot: "sbx-base-snap",
    imageLayerPath: join(d.poolMount, "strata", "readonly", imageLayer(d.dataDir)),
    volumeReadyMs: ms,
  };
}

async function waitReady(d: Stratad, id: string, ctx: Context) {
  const deadline = Date.now() + 600_000;
  for (;;) {
    ctx.signal.throwIfAborted();
    const v = await d.api.getVolume(id);
    if (v.status === "ready") return v;
    if (v.status === "failed" || Date.now() > deadline)
      throw new Error(
        `Volume ${v.slug} did not become ready: it is ${v.status}${v.status === "failed" ? "" : " after 10 minutes"}`,
      );
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The pool layer of builtin:debian-13, from the daemon's database (the API does not show it). */
function imageLayer(dataDir: string): string {
  const db = new DatabaseSync(join(dataDir, "strata.db"), { readOnly: true });
  try {
    const row = db.prepare("SELECT layer_id FROM images WHERE name = ?").get(IMAGE) as
      | { layer_id: string | null }
      | undefined;
    if (!row?.layer_id) throw new Error(`The daemon's database has no layer for ${IMAGE}`);
    return row.layer_id;
  } finally {
    db.close();
  }
}

/** One sandbox from `root`, `echo hi` in it, deleted; the output is checked. */
async function cycle(d: Stratad, root: string): Promise<[number, number, number]> {
  const t0 = performance.now();
  const sbx = await d.api.createSandbox({ root });
  const t1 = performance.now();
  try {
    const r = await d.api.exec(sbx.id, { argv: ["echo", "hi"] });
    const out = Buffer.from(r.stdout, "base64").toString();
    if (r.exitCode !== 0 || out !== "hi\n")
      throw new Error(
        `echo hi in sandbox ${sbx.id} gave exit ${r.exitCode} and ${JSON.stringify(out)}`,
      );
  } catch (err) {
    await d.api.deleteSandbox(sbx.id).catch(() => {});
    throw err;
  }
  const t2 = performance.now();
  await d.api.deleteSandbox(sbx.id);
  const t3 = performance.now();
  return [t1 - t0, t2 - t1, t3 - t2];
}

/**
 * create → first command's output → delete, one cycle after another, with the daemon's
 * defaults (networking on). Three warm-up cycles are not counted.
 */
export async function measureCycles(
  d: Stratad,
  base: SandboxBase,
  plan: SandboxPlan,
  ctx: Context,
): Promise<CycleTimings> {
  ctx.log(`stratad: ${plan.cycles} × create → echo hi → delete (after 3 warm-up cycles)`);
  const res: CycleTimings = {
    createMs: [],
    execMs: [],
    deleteMs: [],
    totalMs: [],
    failures: noFailures(),
  };
  for (
    let tries = 0;
    res.totalMs.length < plan.cycles + 3 && tries < 2 * (plan.cycles + 3);
    tries++
  ) {
    ctx.signal.throwIfAborted();
    try {
      const [c, e, del] = await cycle(d, base.snapshot);
      res.createMs.push(c);
      res.execMs.push(e);
      res.deleteMs.push(del);
      res.totalMs.push(c + e + del);
    } catch (err) {
      noteFailure(res.failures, err);
    }
  }
  // The first three are the warm-up.
  for (const xs of [res.createMs, res.execMs, res.deleteMs, res.totalMs]) xs.splice(0, 3);
  return res;
}

/** Creates a sandbox, trying up to five times (failures noted). */
async function createWithRetries(d: Stratad, root: string, failures: Failures) {
  for (let i = 1; ; i++) {
    try {
      return await d.api.createSandbox({ root });
    } catch (err) {
      noteFailure(failures, err);
      if (i === 5) throw err;
    }
  }
}

/** exec round trips and file write/read-back on one running sandbox. */
export async function measureIo(
  d: Stratad,
  base: SandboxBase,
  plan: SandboxPlan,
  ctx: Context,
): Promise<IoTimings> {
  const failures = noFailures();
  const sbx = await createWithRetries(d, base.snapshot, failures);
  try {
    ctx.log(`stratad: ${plan.execRuns} × exec ["true"] in ${sbx.id}`);
    const res: IoTimings = { execMs: [], writeMs: [], readMs: [], sdk: null, failures };
    for (let i = 0; i < 20; i++) await d.api.exec(sbx.id, { argv: ["true"] });
    for (let i = 0; i < plan.execRuns; i++) {
      ctx.signal.throwIfAborted();
      const { ms, value } = await timed(() => d.api.exec(sbx.id, { argv: ["true"] }));
      if (value.exitCode !== 0) throw new Error(`"true" exited ${value.exitCode} in ${sbx.id}`);
      res.execMs.push(ms);
    }

    ctx.log(`stratad: ${plan.fileRuns} × write and read back ${plan.fileBytes} bytes`);
    const path = "/root/bench.bin";
    for (let i = 0; i < plan.fileRuns + 2; i++) {
      ctx.signal.throwIfAborted();
      const data = new Uint8Array(randomBytes(plan.fileBytes));
      const w = await timed(() => d.api.writeFile(sbx.id, path, data));
      const r = await timed(() => d.api.readFile(sbx.id, path));
      if (!Buffer.from(r.value).equals(data))
        throw new Error(`Reading ${path} back from ${sbx.id} gave other bytes than were written`);
      if (i < 2) continue; // warm-up
      res.writeMs.push(w.ms);
      res.readMs.push(r.ms);
    }

    ctx.log(`stratad: ${plan.execRuns} × sh\`true\` through @strata/sdk against raw fetch`);
    const token = (await readFile(join(d.dataDir, "admin.token"), "utf8")).trim();
    res.sdk = await measureSdkOverhead({
      endpoint: d.url,
      token,
      sandboxId: sbx.id,
      runs: plan.execRuns,
    });
    return res;
  } finally {
    await d.api.deleteSandbox(sbx.id);
  }
}

/**
 * Boot time against the amount of data in the root: for each size, a volume from
 * builtin:debian-13 gets that much fresh random data (written on the host into its layer,
 * owned by the sandbox's root, synced), is snapshotted, and sandboxes are created from the
 * snapshot and deleted, round-robin over the sizes.
 */
export async function measureBoot(
  d: Stratad,
  plan: SandboxPlan,
  ctx: Context,
): Promise<BootTimings[]> {
  const results: BootTimings[] = [];
  for (const size of plan.bootSizes) {
    ctx.signal.throwIfAborted();
    const slug = `boot-${size.key}`;
    const created = await d.api.createVolume({
      slug,
      region: REGION,
      capacity: "6GB",
      from: IMAGE,
    });
    const volume = await waitReady(d, created.id, ctx);
    ctx.log(`stratad: writing ${size.label} into volume ${slug} (${volume.id})`);
    const dir = join(d.layerPath(volume.id), "data");
    await writeRandomFiles(dir, {
      totalBytes: size.bytes,
      fileBytes: 64 * 2 ** 20,
      signal: ctx.signal,
    });
    await run(["chown", "-R", `${SANDBOX_ROOT_ID}:${SANDBOX_ROOT_ID}`, dir]);
    await syncAll(ctx.signal);
    await d.api.snapshotVolume(volume.id, `${slug}-snap`);
    results.push({ ...size, createMs: [], deleteMs: [], failures: noFailures() });
  }
  await syncAll(ctx.signal);

  ctx.log(`stratad: ${plan.bootReps} sandboxes from each boot snapshot (plus one warm-up each)`);
  for (let r = -1; r < plan.bootReps; r++) {
    for (const res of results) {
      ctx.signal.throwIfAborted();
      const c = await timed(() => d.api.createSandbox({ root: `boot-${res.key}-snap` })).catch(
        (err: unknown) => noteFailure(res.failures, err),
      );
      if (!c) continue;
      const del = await timed(() => d.api.deleteSandbox(c.value.id));
      if (r < 0) continue;
      res.createMs.push(c.ms);
      res.deleteMs.push(del.ms);
    }
  }
  return results;
}
