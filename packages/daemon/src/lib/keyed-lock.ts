/**
 * Serialises async work per key: `await using _ = await locks.acquire("vol_1")` holds the
 * lock until the scope ends. Work on different keys runs concurrently.
 */
export class KeyedLock {
  #tails = new Map<string, Promise<void>>();

  async acquire(key: string): Promise<Disposable> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => {
      release = r;
    });
    const tail = previous.then(() => mine);
    this.#tails.set(key, tail);
    await previous;
    return {
      [Symbol.dispose]: () => {
        release();
        if (this.#tails.get(key) === tail) this.#tails.delete(key);
      },
    };
  }

  /** Whether some holder or waiter exists for `key`. */
  isHeld(key: string): boolean {
    return this.#tails.has(key);
  }
}
