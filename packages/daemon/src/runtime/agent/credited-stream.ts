import { Readable } from "node:stream";

/** Received bytes are credited back in batches of at least this many. */
const GRANT_BATCH = 64 * 1024;

export interface CreditedStreamOptions {
  /** Lets the agent send n more bytes of this stream. */
  grant(n: number): void;
  /** The consumer destroyed the stream before its end. */
  onCancel?(): void;
  /** Credit back in batches of at least this many bytes; 64 KiB by default. */
  batch?: number;
}

/**
 * A Readable fed by agent frames under the protocol's window: bytes are credited back
 * only while the consumer keeps up, so a slow reader stalls the sender, not the daemon's
 * memory. Once the consumer destroys it, arriving bytes are credited and dropped.
 */
export class CreditedStream {
  readonly readable: Readable;
  #options: CreditedStreamOptions;
  #owed = 0;
  #wanting = true;
  #discarding = false;
  #finished = false;
  readonly #batch: number;

  constructor(options: CreditedStreamOptions) {
    this.#options = options;
    this.#batch = options.batch ?? GRANT_BATCH;
    this.readable = new Readable({
      highWaterMark: this.#batch,
      read: () => {
        this.#wanting = true;
        this.#flush();
      },
      destroy: (error, callback) => {
        if (!this.#finished) {
          this.#finished = true;
          this.#discarding = true;
          this.#grantOwed();
          this.#options.onCancel?.();
        }
        callback(error);
      },
    });
  }

  push(chunk: Buffer): void {
    this.#owed += chunk.length;
    if (this.#discarding) {
      this.#grantOwed();
      return;
    }
    if (this.#finished) return;
    if (!this.readable.push(chunk)) this.#wanting = false;
    this.#flush();
  }

  end(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.readable.push(null);
  }

  /**
   * Ends the stream with an error. With `ifListened`, a stream nobody listens to for
   * errors just ends: an unhandled 'error' would crash the daemon.
   */
  fail(error: Error, options: { ifListened?: boolean } = {}): void {
    if (this.#finished) return;
    this.#finished = true;
    if (options.ifListened && this.readable.listenerCount("error") === 0) {
      this.readable.push(null);
    } else {
      this.readable.destroy(error);
    }
  }

  #flush(): void {
    if (this.#wanting && this.#owed >= this.#batch && !this.#finished) this.#grantOwed();
  }

  #grantOwed(): void {
    const n = this.#owed;
    this.#owed = 0;
    if (n > 0) this.#options.grant(n);
  }
}
