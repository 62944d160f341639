import type { Logger } from "../lib/logger.ts";
import type { EventLog } from "./events.ts";
import type { SnapshotService } from "./snapshots.ts";

/** Events older than this are dropped by the reaper. */
const EVENT_MAX_AGE_MS = 30 * 86_400_000;

/**
 * Runs the snapshot reaper every `intervalMs` (and once at start): expired, unprotected
 * snapshots are deleted; old events are dropped. One pass at a time.
 */
export class Reaper {
  readonly #deps: { snapshots: SnapshotService; events: EventLog; log: Logger };
  readonly #timer: NodeJS.Timeout;
  #pass: Promise<void> | undefined;
  #closed = false;

  constructor(
    deps: { snapshots: SnapshotService; events: EventLog; log: Logger },
    intervalMs: number,
  ) {
    this.#deps = deps;
    this.#timer = setInterval(() => this.runOnce(), intervalMs);
    this.#timer.unref();
    this.runOnce();
  }

  /** Starts a pass unless one is running (then it is skipped); resolves when the pass ends. */
  runOnce(): Promise<void> {
    if (this.#closed || this.#pass) return this.#pass ?? Promise.resolve();
    const d = this.#deps;
    this.#pass = (async () => {
      try {
        const reaped = await d.snapshots.reap();
        const dropped = d.events.prune(EVENT_MAX_AGE_MS);
        if (reaped.length || dropped)
          d.log.info({ snapshots: reaped, events: dropped }, "Reaper pass");
      } catch (err) {
        d.log.error({ err }, "Reaper pass failed");
      } finally {
        this.#pass = undefined;
      }
    })();
    return this.#pass;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#pass;
  }
}
