import { randomInt } from "node:crypto";
import type { Readable } from "node:stream";
import type { SerializedError } from "./wire.ts";

/**
 * Byte streams of the Deno protocol (`$sandbox.stream.*` notifications), both ways.
 *
 * The client keeps the streams it receives in process-global maps keyed by id alone, so
 * ids this daemon sends are unique across every connection: one counter from a random
 * start. Streams the client sends are numbered by the client; they are kept per
 * connection, buffered from `start` until a call claims them (enqueues may come before
 * the call that names the stream).
 */

let nextId = randomInt(1, 2 ** 40);

/** A fresh id for a stream this daemon sends. */
export function newStreamId(): number {
  return nextId++;
}

/** The most bytes sent in one enqueue. */
const CHUNK = 64 * 1024;
/** Past this much queued on a socket, sending waits until it drains. */
const HIGH_WATER = 4 * 1024 * 1024;

/** What a stream sender needs from the connection. */
export interface Notifier {
  notify(method: string, params: Record<string, unknown>): void;
  /** Sends, and resolves once the message was written to the socket (or it closed). */
  notifyWritten(method: string, params: Record<string, unknown>): Promise<void>;
  /** Bytes queued on the socket, not yet written. */
  readonly backlog: number;
  readonly open: boolean;
}

/**
 * Sends `source` as stream `streamId` (whose `start` was sent already): enqueues of at most
 * 64 KiB, then `end`, or `error` if the source fails. A cancel from the client
 * (`cancelled()` true) stops the sending but keeps reading, so that a process writing to
 * it never blocks.
 */
export async function pumpStream(
  out: Notifier,
  streamId: number,
  source: Readable,
  cancelled: () => boolean,
): Promise<void> {
  try {
    for await (const chunk of source) {
      if (cancelled() || !out.open) continue;
      const b = chunk as Buffer;
      for (let at = 0; at < b.length; at += CHUNK) {
        const params = { streamId, data: b.subarray(at, at + CHUNK).toString("base64") };
        // Backpressure: past the high-water mark, wait for this chunk to reach the socket.
        if (out.backlog > HIGH_WATER) await out.notifyWritten("$sandbox.stream.enqueue", params);
        else out.notify("$sandbox.stream.enqueue", params);
      }
    }
    if (!cancelled() && out.open) out.notify("$sandbox.stream.end", { streamId });
  } catch (err) {
    if (!cancelled() && out.open)
      out.notify("$sandbox.stream.error", {
        streamId,
        error: {
          constructorName: "Error",
          message: err instanceof Error ? err.message : String(err),
          code: (err as { code?: string }).code ?? null,
        },
      });
  }
}

/** One stream the client sends: chunks buffered until consumed. */
export class Inbound implements AsyncIterable<Uint8Array> {
  readonly #chunks: Buffer[] = [];
  #done = false;
  #ended = false;
  #error: SerializedError | undefined;
  #wake: (() => void) | undefined;
  #budget: Budget;
  claimed = false;

  constructor(budget: Budget) {
    this.#budget = budget;
  }

  /** Adds a chunk; false when the connection's buffer budget is spent (the stream then fails). */
  push(data: Buffer): boolean {
    if (this.#done) return true;
    if (!this.#budget.take(data.length)) {
      this.fail({
        constructorName: "Error",
        message: "The stream sent more than the daemon buffers for one connection",
        code: "E2BIG",
        name: null,
      });
      return false;
    }
    this.#chunks.push(data);
    this.#poke();
    return true;
  }

  /** Whether the client ended (or failed) the stream. */
  get ended(): boolean {
    return this.#ended;
  }

  end(): void {
    this.#ended = true;
    this.#done = true;
    this.#poke();
  }

  fail(error: SerializedError): void {
    this.#error ??= error;
    this.#ended = true;
    this.#done = true;
    this.#poke();
  }

  /** Drops what is buffered (the connection closed or the stream was cancelled). */
  discard(): void {
    for (const c of this.#chunks) this.#budget.give(c.length);
    this.#chunks.length = 0;
    this.fail({
      constructorName: "Error",
      message: "The stream was cancelled",
      code: null,
      name: null,
    });
  }

  #poke(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    for (;;) {
      const chunk = this.#chunks.shift();
      if (chunk) {
        this.#budget.give(chunk.length);
        yield chunk;
        continue;
      }
      if (this.#error)
        throw Object.assign(new Error(this.#error.message), { streamError: this.#error });
      if (this.#done) return;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }
}

/** The bytes one connection may hold buffered for its inbound streams. */
export class Budget {
  #left: number;
  constructor(bytes: number) {
    this.#left = bytes;
  }
  take(n: number): boolean {
    if (n > this.#left) return false;
    this.#left -= n;
    return true;
  }
  give(n: number): void {
    this.#left += n;
  }
}
