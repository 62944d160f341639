import { run } from "../lib/exec.ts";

/** Loads `nft -f -` input: one atomic transaction. */
export async function nft(text: string): Promise<void> {
  await run(["nft", "-f", "-"], { input: text });
}

/**
 * Runs nft batches one exec at a time, merging the batches that queue up meanwhile into
 * a single transaction: a burst of DNS answers costs a couple of execs, not one each.
 * When a merged transaction fails (one sandbox's sets vanished in a detach), each batch
 * is retried on its own so only the culprit fails.
 */
export class NftQueue {
  #pending: { text: string; resolve: () => void; reject: (err: unknown) => void }[] = [];
  #running = false;
  #load: (text: string) => Promise<void>;

  constructor(load: (text: string) => Promise<void> = nft) {
    this.#load = load;
  }

  run(text: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ text, resolve, reject });
      if (!this.#running) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#running = true;
    while (this.#pending.length > 0) {
      const batch = this.#pending.splice(0);
      try {
        await this.#load(batch.map((b) => b.text).join(""));
        for (const b of batch) b.resolve();
      } catch (err) {
        if (batch.length === 1) batch[0]!.reject(err);
        else
          for (const b of batch) {
            await this.#load(b.text).then(b.resolve, b.reject);
          }
      }
    }
    this.#running = false;
  }
}
