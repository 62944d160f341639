import { posix } from "node:path";
import type { WebSocket } from "ws";
import { z } from "zod";
import { StrataError } from "../../errors.ts";
import type { SandboxState } from "./lifecycle.ts";
import type { StrataPort } from "./strata.ts";
import { Budget, Inbound, type Notifier, newStreamId } from "./streams.ts";
import {
  abortError,
  codeError,
  errnoError,
  RPC,
  RpcFrame,
  type SerializedError,
  StreamEnd,
  StreamEnqueue,
  StreamFail,
  StreamStart,
} from "./wire.ts";

/** A method of the sandbox endpoint: resolves with the `ok` value, or throws. */
export type Handler = (conn: Connection, params: Record<string, unknown>) => Promise<unknown>;

/** Thrown by a handler to answer `{error}` with exactly this serialized error. */
export class RpcFailure extends Error {
  readonly error: SerializedError;
  constructor(error: SerializedError) {
    super(error.message);
    this.error = error;
  }
}

/** Working directory of processes, and what relative paths resolve against. */
export const HOME = "/root";
/** Inbound streams one connection may have open, and the bytes it may buffer for them. */
const MAX_INBOUND = 64;
const INBOUND_BYTES = 64 * 1024 * 1024;
/** A client that sent nothing (not even its 2-second ping) for this long is gone. */
const IDLE_MS = 30_000;

/**
 * One WebSocket of the sandbox endpoint: JSON-RPC requests dispatched to `methods`,
 * stream notifications both ways, per-connection file handles and aborts. Closing it
 * frees everything it holds; the sandbox's processes belong to the sandbox.
 */
export class Connection implements Notifier {
  readonly st: SandboxState;
  readonly port: StrataPort;
  /** Per-connection resources: file handles, freed on close. */
  readonly handles = new Map<number, unknown>();
  /** Server streams the client cancelled. */
  readonly cancelled = new Set<number>();
  readonly #ws: WebSocket;
  readonly #methods: Record<string, Handler>;
  readonly #log: { warn(obj: object, msg: string): void };
  readonly #inbound = new Map<number, Inbound>();
  readonly #budget = new Budget(INBOUND_BYTES);
  readonly #aborts = new Map<number, AbortController>();
  readonly #closed = new AbortController();
  #idle: NodeJS.Timeout;

  constructor(
    ws: WebSocket,
    st: SandboxState,
    options: {
      port: StrataPort;
      methods: Record<string, Handler>;
      log: { warn(obj: object, msg: string): void };
    },
  ) {
    this.#ws = ws;
    this.st = st;
    this.port = options.port;
    this.#methods = options.methods;
    this.#log = options.log;
    this.#idle = setTimeout(() => ws.terminate(), IDLE_MS);
    ws.on("message", (data, isBinary) => this.#onMessage(data as Buffer, isBinary));
    ws.once("close", () => this.#onClose());
  }

  get open(): boolean {
    return this.#ws.readyState === this.#ws.OPEN;
  }

  /** Aborted when the connection closes. */
  get signal(): AbortSignal {
    return this.#closed.signal;
  }

  notify(method: string, params: Record<string, unknown>): void {
    if (this.open) this.#ws.send(JSON.stringify({ jsonrpc: "2.0", method, params }));
  }

  get backlog(): number {
    return this.#ws.bufferedAmount;
  }

  notifyWritten(method: string, params: Record<string, unknown>): Promise<void> {
    if (!this.open) return Promise.resolve();
    return new Promise((resolve) => {
      this.#ws.send(JSON.stringify({ jsonrpc: "2.0", method, params }), () => resolve());
    });
  }

  /** Announces a new server stream (before the response that names it) and returns its id. */
  startStream(): number {
    const streamId = newStreamId();
    this.notify("$sandbox.stream.start", { streamId });
    return streamId;
  }

  /** Claims a stream the client sends; it must have been started on this connection. */
  inbound(streamId: number): Inbound {
    const s = this.#inbound.get(streamId);
    if (!s || s.claimed)
      throw new RpcFailure(
        codeError(
          "invalid_request",
          `Stream ${streamId} was not started on this connection`,
          "TypeError",
        ),
      );
    s.claimed = true;
    if (s.ended) this.#inbound.delete(streamId);
    return s;
  }

  /** The signal of an `abortId` the client may later abort with the `abort` method. */
  abortSignal(abortId: unknown): AbortSignal | undefined {
    if (typeof abortId !== "number") return undefined;
    const c = new AbortController();
    this.#aborts.set(abortId, c);
    return c.signal;
  }

  /** Forgets an `abortId` once its call answered. */
  settleAbort(abortId: unknown): void {
    if (typeof abortId === "number") this.#aborts.delete(abortId);
  }

  abort(abortId: number): void {
    this.#aborts.get(abortId)?.abort();
    this.#aborts.delete(abortId);
  }

  /** A path inside the sandbox: relative paths are relative to the home directory. */
  resolve(path: unknown, what = "path"): string {
    const p = z.string().min(1).max(4096).safeParse(path);
    if (!p.success || p.data.includes("\0"))
      throw new RpcFailure(
        codeError("invalid_request", `Invalid ${what} ${JSON.stringify(path)}`, "TypeError"),
      );
    return posix.resolve(HOME, p.data);
  }

  #send(msg: object): void {
    if (this.open) this.#ws.send(JSON.stringify(msg));
  }

  #onMessage(data: Buffer, isBinary: boolean): void {
    this.#idle.refresh();
    const text = data.toString("utf8");
    if (!isBinary && text === "ping") {
      if (this.open) this.#ws.send("pong");
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      // JSON-RPC 2.0: a parse error is answered with a null id.
      this.#send({
        jsonrpc: "2.0",
        id: null,
        error: { code: RPC.parseError, message: "Parse error: the frame is not JSON" },
      });
      return;
    }
    const frame = RpcFrame.safeParse(json);
    if (!frame.success) {
      const id = (json as { id?: unknown } | null)?.id;
      this.#send({
        jsonrpc: "2.0",
        id: typeof id === "number" || typeof id === "string" ? id : null,
        error: { code: RPC.invalidRequest, message: "Invalid request: not a JSON-RPC 2.0 request" },
      });
      return;
    }
    const { id, method } = frame.data;
    const params = frame.data.params ?? {};
    if (id === undefined) {
      this.#onNotification(method, params);
      return;
    }
    void this.#call(id, method, params);
  }

  async #call(id: number | string, method: string, params: Record<string, unknown>): Promise<void> {
    const handler = Object.hasOwn(this.#methods, method) ? this.#methods[method] : undefined;
    if (!handler) {
      this.#send({
        jsonrpc: "2.0",
        id,
        error: { code: RPC.methodNotFound, message: `Method not found: ${method}` },
      });
      return;
    }
    try {
      const ok = await handler(this, params);
      this.#send({ jsonrpc: "2.0", id, result: { ok: ok === undefined ? null : ok } });
    } catch (err) {
      if (err instanceof z.ZodError) {
        const issue = err.issues[0];
        this.#send({
          jsonrpc: "2.0",
          id,
          error: {
            code: RPC.invalidParams,
            message: `Invalid params of ${method}: ${issue?.path.join(".") || "params"}: ${issue?.message ?? "invalid"}`,
          },
        });
        return;
      }
      this.#send({ jsonrpc: "2.0", id, result: { error: this.#serialize(err, method) } });
    }
  }

  #serialize(err: unknown, method: string): SerializedError {
    if (err instanceof RpcFailure) return err.error;
    if (err instanceof StrataError) {
      return err.errno ? errnoError(err.errno, err.message) : codeError(err.code, err.message);
    }
    if (err instanceof Error && err.name === "AbortError") return abortError();
    this.#log.warn({ err, method, sandbox: this.st.id }, "A Deno API call failed unexpectedly");
    return codeError("internal", `Internal error in ${method}; the daemon log has details`);
  }

  #onNotification(method: string, params: Record<string, unknown>): void {
    switch (method) {
      case "$sandbox.stream.start": {
        const p = StreamStart.safeParse(params);
        if (!p.success || this.#inbound.has(p.data.streamId)) return;
        if (this.#inbound.size >= MAX_INBOUND) {
          this.notify("$sandbox.stream.cancel", {
            streamId: p.data.streamId,
            reason: codeError(
              "E2BIG",
              `At most ${MAX_INBOUND} streams may be open on one connection`,
            ),
          });
          return;
        }
        this.#inbound.set(p.data.streamId, new Inbound(this.#budget));
        return;
      }
      case "$sandbox.stream.enqueue": {
        const p = StreamEnqueue.safeParse(params);
        const s = p.success ? this.#inbound.get(p.data.streamId) : undefined;
        if (!p.success || !s) return;
        if (!s.push(Buffer.from(p.data.data, "base64")))
          this.notify("$sandbox.stream.cancel", {
            streamId: p.data.streamId,
            reason: codeError(
              "E2BIG",
              "The stream sent more than the daemon buffers for one connection",
            ),
          });
        return;
      }
      case "$sandbox.stream.end": {
        const p = StreamEnd.safeParse(params);
        if (!p.success) return;
        const s = this.#inbound.get(p.data.streamId);
        s?.end();
        if (s?.claimed) this.#inbound.delete(p.data.streamId);
        return;
      }
      case "$sandbox.stream.error": {
        const p = StreamFail.safeParse(params);
        if (!p.success) return;
        const s = this.#inbound.get(p.data.streamId);
        s?.fail(codeError("EIO", "The client's stream failed"));
        if (s?.claimed) this.#inbound.delete(p.data.streamId);
        return;
      }
      case "$sandbox.stream.cancel": {
        const p = StreamFail.safeParse(params);
        if (p.success) this.cancelled.add(p.data.streamId);
        return;
      }
    }
  }

  #onClose(): void {
    clearTimeout(this.#idle);
    this.#closed.abort();
    for (const s of this.#inbound.values()) s.discard();
    this.#inbound.clear();
    for (const c of this.#aborts.values()) c.abort();
    this.#aborts.clear();
    this.handles.clear();
  }
}
