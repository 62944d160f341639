import { Client } from "@strata/sdk";
import { median, percentile } from "./report.ts";

export interface SdkOverheadOptions {
  endpoint: string;
  token: string;
  /** A running sandbox to run `true` in. */
  sandboxId: string;
  /** Timed round trips of each kind (after a few untimed warm-up ones). */
  runs: number;
}

export interface SdkOverheadResult {
  runs: number;
  /** `` await sandbox.sh`true`.quiet() ``: builder, `POST /exec`, base64 decoding, status check. */
  sdkP50Ms: number;
  sdkP95Ms: number;
  /** `fetch` of `POST /v1/sandboxes/{id}/exec` with `{"command":"true"}` and `res.json()`. */
  rawP50Ms: number;
  rawP95Ms: number;
  /** `sdkP50Ms - rawP50Ms`: what the SDK adds to a round trip. */
  overheadP50Ms: number;
  /** `` sandbox.sh`true`.spawn() `` to its exit status over the exec WebSocket (a new connection each time). */
  spawnP50Ms: number;
  spawnP95Ms: number;
}

const WARMUP = 5;

/**
 * Measures what the SDK adds to a command's round trip: `sh` through the SDK against the
 * same `POST /exec` made with bare `fetch`, alternating the two so that drift of the
 * machine affects both alike; and, for comparison, the streaming path (`spawn`). Measures
 * and returns; it never judges the numbers.
 */
export async function measureSdkOverhead(options: SdkOverheadOptions): Promise<SdkOverheadResult> {
  const client = new Client({ endpoint: options.endpoint, token: options.token });
  const sandbox = await client.sandboxes.get(options.sandboxId);
  if (!sandbox) throw new Error(`No sandbox ${options.sandboxId} at ${options.endpoint}`);
  const url = `${client.endpoint}/v1/sandboxes/${encodeURIComponent(options.sandboxId)}/exec`;
  const headers = {
    authorization: `Bearer ${options.token}`,
    "content-type": "application/json",
  };

  const sdk = async () => {
    await sandbox.sh`true`.quiet();
  };
  const raw = async () => {
    const res = await fetch(url, {
      method: "POST",
      headers,
      body: JSON.stringify({ command: "true" }),
    });
    const body = (await res.json()) as { exitCode?: number };
    if (!res.ok || body.exitCode !== 0) throw new Error(`POST ${url}: ${res.status}`);
  };
  const spawn = async () => {
    const child = await sandbox.sh`true`.spawn();
    const status = await child.status;
    if (!status.success) throw new Error(`spawned true exited with ${status.code}`);
  };
  const time = async (fn: () => Promise<void>) => {
    const started = performance.now();
    await fn();
    return performance.now() - started;
  };

  for (let i = 0; i < WARMUP; i++) {
    await sdk();
    await raw();
    await spawn();
  }
  const samples = { sdk: [] as number[], raw: [] as number[], spawn: [] as number[] };
  for (let i = 0; i < options.runs; i++) {
    // Alternating which goes first keeps connection reuse and GC from favouring one side.
    if (i % 2 === 0) {
      samples.sdk.push(await time(sdk));
      samples.raw.push(await time(raw));
    } else {
      samples.raw.push(await time(raw));
      samples.sdk.push(await time(sdk));
    }
    samples.spawn.push(await time(spawn));
  }
  const p50 = (s: number[]) => median(s) ?? Number.NaN;
  const p95 = (s: number[]) => percentile(s, 0.95) ?? Number.NaN;
  return {
    runs: options.runs,
    sdkP50Ms: p50(samples.sdk),
    sdkP95Ms: p95(samples.sdk),
    rawP50Ms: p50(samples.raw),
    rawP95Ms: p95(samples.raw),
    overheadP50Ms: p50(samples.sdk) - p50(samples.raw),
    spawnP50Ms: p50(samples.spawn),
    spawnP95Ms: p95(samples.spawn),
  };
}
