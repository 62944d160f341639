import type { Duplex } from "node:stream";
import { AgentError } from "./agent-error.ts";
import { deferred, type FrameHandler, type Port } from "./port.ts";
import {
  decodeU32,
  encodeFrame,
  FrameDecoder,
  MessageType,
  PROTOCOL_VERSION,
  ProtocolError,
} from "./protocol.ts";

/**
 * The framed connection to one agent, under {@link AgentClient}: the READY handshake,
 * request ids, routing of frames to each request's handler, write backpressure, and
 * shutdown, which fails every pending request with `agent_gone`.
 *
 * The socket is never paused: the protocol's windows bound what the agent sends, and
 * the agent's writes block while the daemon does not read, so pausing would only stall
 * every process and file transfer at once.
 */
export class AgentConnection {
  /** Resolves once the stream has closed, for whatever reason. */
  readonly closed: Promise<void>;

  #stream: Duplex;
  #decoder = new FrameDecoder();
  #handlers = new Map<number, FrameHandler>();
  #lastId = 0;
  #ready = deferred<void>();
  #isReady = false;
  #gone: AgentError | undefined;
  #closed = deferred<void>();
  #drain: PromiseWithResolvers<void> | undefined;

  constructor(stream: Duplex) {
    this.#stream = stream;
    this.closed = this.#closed.promise;
    stream.on("data", (chunk: Buffer) => this.#onData(chunk));
    stream.on("drain", () => this.#wakeDrain());
    stream.on("end", () => this.shutdown(AgentError.gone("it closed the connection")));
    stream.on("close", () => this.shutdown(AgentError.gone("the connection closed")));
    stream.on("error", (e) => this.shutdown(AgentError.gone(e.message, e)));
  }

  /** Resolves when READY arrived; rejects with `agent_gone` on close or after `timeoutMs`. */
  async ready(timeoutMs: number): Promise<void> {
    const timer = setTimeout(
      () => this.shutdown(AgentError.gone(`no READY within ${timeoutMs} ms`)),
      timeoutMs,
    );
    try {
      await this.#ready.promise;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Allocates a request id routed to handler; after shutdown, the handler fails at once. */
  open(handler: FrameHandler): Port {
    let id = this.#lastId;
    do id = id >= 0xffff_ffff ? 1 : id + 1;
    while (this.#handlers.has(id));
    this.#lastId = id;
    const gone = this.#gone;
    if (gone) queueMicrotask(() => handler.onGone(gone));
    else this.#handlers.set(id, handler);
    return {
      id,
      send: (type, payload) => this.#send(type, id, payload),
      attach: (next) => {
        if (this.#handlers.has(id)) this.#handlers.set(id, next);
      },
      release: () => this.#handlers.delete(id),
    };
  }

  /**
   * Half-closes the daemon's side: the agent reads EOF, kills every process of the
   * sandbox, reaps them and exits, which closes its side. Resolves true once that
   * happened, false if it did not within `timeoutMs` (the connection stays half-closed).
   */
  async finish(timeoutMs: number): Promise<boolean> {
    if (!this.#gone && !this.#stream.writableEnded) this.#stream.end();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    try {
      return await Promise.race([this.closed.then(() => true as const), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Ends the connection (idempotent): pending requests fail with `error`. */
  shutdown(error: AgentError): void {
    if (this.#gone) return;
    this.#gone = error;
    this.#ready.reject(error);
    const handlers = [...this.#handlers.values()];
    this.#handlers.clear();
    for (const handler of handlers) handler.onGone(error);
    this.#wakeDrain();
    if (this.#stream.closed) this.#closed.resolve();
    else this.#stream.once("close", () => this.#closed.resolve());
    this.#stream.destroy();
  }

  #send(type: MessageType, id: number, payload?: Uint8Array): Promise<void> {
    if (this.#gone) return Promise.reject(this.#gone);
    if (this.#stream.write(encodeFrame(type, id, payload))) return Promise.resolve();
    this.#drain ??= Promise.withResolvers<void>();
    return this.#drain.promise.then(() => {
      if (this.#gone) throw this.#gone;
    });
  }

  #wakeDrain(): void {
    const drain = this.#drain;
    this.#drain = undefined;
    drain?.resolve();
  }

  #onData(chunk: Buffer): void {
    let frames: ReturnType<FrameDecoder["push"]>;
    try {
      frames = this.#decoder.push(chunk);
    } catch (e) {
      this.#violation(e);
      return;
    }
    for (const frame of frames) {
      if (this.#gone) return;
      try {
        if (!this.#isReady) {
          if (frame.type !== MessageType.Ready)
            throw new ProtocolError("The first frame is not READY");
          const version = decodeU32(frame.payload);
          if (version !== PROTOCOL_VERSION) {
            this.shutdown(AgentError.gone(`it speaks protocol version ${version}`));
            return;
          }
          this.#isReady = true;
          this.#ready.resolve();
          continue;
        }
        this.#handlers.get(frame.id)?.onFrame(frame.type, frame.payload);
      } catch (e) {
        this.#violation(e);
        return;
      }
    }
  }

  #violation(e: unknown): void {
    const message = e instanceof Error ? e.message : String(e);
    this.shutdown(AgentError.gone(`it broke the protocol: ${message}`, e));
  }
}
