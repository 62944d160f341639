/**
 * Operations in flight per key, so that something can wait for them to finish: a snapshot
 * delete waits for the restores copying it. Register synchronously, in the same tick as the
 * lookup that found the key, so that a waiter never misses one.
 */
export class InFlight {
  readonly #ops = new Map<string, Set<Promise<unknown>>>();

  /** Runs `work` as an operation on `key`; its settling (either way) ends it. */
  track<T>(key: string, work: Promise<T>): Promise<T> {
    let set = this.#ops.get(key);
    if (!set) {
      set = new Set();
      this.#ops.set(key, set);
    }
    const ops = set;
    const done = work.then(
      () => undefined,
      () => undefined,
    );
    ops.add(done);
    void done.then(() => {
      ops.delete(done);
      if (ops.size === 0 && this.#ops.get(key) === ops) this.#ops.delete(key);
    });
    return work;
  }

  /** Resolves once every operation on `key` registered so far has settled. */
  async drain(key: string): Promise<void> {
    const set = this.#ops.get(key);
    if (set) await Promise.all([...set]);
  }

  count(key: string): number {
    return this.#ops.get(key)?.size ?? 0;
  }
}
