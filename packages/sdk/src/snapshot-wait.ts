import type { Snapshot } from "@strata/api";
import { SnapshotFailedError, StrataError } from "./errors.ts";
import { sleep } from "./poll.ts";
import { seg, type Transport } from "./transport.ts";

/** How `snapshots.waitReady()` (and `sandbox.snapshots.create(…, { wait: true })`) waits. */
export interface SnapshotWaitOptions {
  /**
   * Give up after this many milliseconds with a {@link StrataError} of code `wait_timeout`
   * (the daemon still finishes the snapshot). Default: wait as long as it takes.
   */
  timeoutMs?: number;
  /** Milliseconds between polls (default 250). */
  pollInterval?: number;
  /** Called after each poll that still finds the snapshot `creating`. */
  onProgress?: (snapshot: Snapshot) => void;
  /** Stops waiting, rejecting with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Polls `GET /v1/snapshots/{id}` until the snapshot leaves `creating`: returns it when
 * `ready`, throws {@link SnapshotFailedError} when `failed`. `snapshot` is an id or slug
 * (fetched first) or a snapshot already in hand (not fetched again when settled).
 */
export async function waitForSnapshot(
  t: Transport,
  snapshot: Snapshot | string,
  options: SnapshotWaitOptions = {},
): Promise<Snapshot> {
  const { signal } = options;
  const interval = options.pollInterval ?? 250;
  const started = performance.now();
  const deadline = started + (options.timeoutMs ?? Number.POSITIVE_INFINITY);
  const fetchSnapshot = (idOrSlug: string) =>
    t.json<Snapshot>("GET", `/snapshots/${seg(idOrSlug)}`, { signal });
  let current = typeof snapshot === "string" ? await fetchSnapshot(snapshot) : snapshot;
  while (current.status === "creating") {
    const left = deadline - performance.now();
    if (left <= 0) {
      const ms = Math.round(performance.now() - started);
      throw new StrataError(
        "wait_timeout",
        `Snapshot ${JSON.stringify(current.slug)} (${current.id}) is still creating after ${ms} ms`,
      );
    }
    // The last poll lands on the deadline, so a snapshot that settles just in time counts.
    await sleep(Math.min(interval, left), signal);
    current = await fetchSnapshot(current.id);
    if (current.status === "creating") options.onProgress?.(current);
  }
  if (current.status === "failed") throw new SnapshotFailedError(current);
  return current;
}
