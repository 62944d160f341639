import { Cron } from "croner";

/**
 * One cron job per sandbox with automatic snapshots. A tick only calls `onTick`; whether it
 * takes a snapshot or is skipped (sandbox not ready, a snapshot already in flight) is the
 * snapshot service's decision. Ticks missed while a job is not running are not queued.
 */
export class SnapshotScheduler {
  readonly #jobs = new Map<string, Cron>();
  readonly #onTick: (sandboxId: string) => Promise<void>;

  constructor(onTick: (sandboxId: string) => Promise<void>) {
    this.#onTick = onTick;
  }

  /** Starts (or restarts) the job of a sandbox. */
  start(sandboxId: string, frequency: string): void {
    this.stop(sandboxId);
    const job = new Cron(frequency, { unref: true }, () => this.#onTick(sandboxId).catch(() => {}));
    this.#jobs.set(sandboxId, job);
  }

  stop(sandboxId: string): void {
    this.#jobs.get(sandboxId)?.stop();
    this.#jobs.delete(sandboxId);
  }

  stopAll(): void {
    for (const id of [...this.#jobs.keys()]) this.stop(id);
  }
}
