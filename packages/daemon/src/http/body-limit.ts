import { type Readable, Transform, type TransformCallback } from "node:stream";
import type { FastifyReply, FastifyRequest } from "fastify";
import { StrataError } from "../errors.ts";

/** The largest JSON body a route accepts unless it sets its own `bodyLimit`. */
export const JSON_BODY_LIMIT = 1024 * 1024;

/**
 * How much of a too-large body the daemon reads (and throws away) before it answers 413.
 * A client that sent more is cut off: its connection is closed under it.
 */
export const DRAIN_LIMIT = 64 * 1024 * 1024;

/**
 * A `preParsing` hook that answers a body over the route's limit with a readable
 * `413 payload_too_large` instead of a reset connection.
 *
 * Fastify answers such a body as soon as it sees it (at once when `content-length` says
 * so) with `connection: close`, and Node then closes the socket while the client is still
 * writing: the kernel resets a socket closed with unread data, so the client gets EPIPE or
 * ECONNRESET instead of the answer. This hook reads the rest of the body first, throwing
 * it away, up to `drainLimit` bytes; only a client that sends (or declares) more than that
 * is cut off. Routes whose own `bodyLimit` is at least `drainLimit` stream their bodies and
 * are left alone.
 */
export function bodyLimitHook(options: { drainLimit?: number } = {}) {
  const drainLimit = options.drainLimit ?? DRAIN_LIMIT;
  return async (
    request: FastifyRequest,
    reply: FastifyReply,
    payload: Readable,
  ): Promise<Readable> => {
    const limit = request.routeOptions.bodyLimit ?? JSON_BODY_LIMIT;
    // Routes that take bodies this large stream them (files) and need no guard.
    if (request.method === "GET" || request.method === "HEAD" || limit >= drainLimit)
      return payload;
    const declared = Number(request.headers["content-length"]);
    if (declared > limit) {
      if (declared > drainLimit || !(await discard(payload, drainLimit)))
        reply.header("connection", "close");
      throw tooLarge(limit, declared);
    }
    // Without a declared length (chunked), the size is known only as the body arrives.
    if (request.headers["content-length"] === undefined) {
      const guard = new BodyGuard(limit, drainLimit);
      payload.on("error", (err) => guard.destroy(err));
      payload.on("close", () => {
        if (!payload.readableEnded) guard.destroy(new Error("The client closed the request"));
      });
      return payload.pipe(guard);
    }
    return payload;
  };
}

function tooLarge(limit: number, bytes?: number): StrataError {
  const size = limit % 2 ** 20 === 0 ? `${limit / 2 ** 20} MiB` : `${limit} bytes`;
  return new StrataError(
    "payload_too_large",
    `Request body${bytes === undefined ? "" : ` of ${bytes} bytes`} is too large: this route accepts at most ${size}`,
  );
}

/**
 * Reads `stream` to its end, throwing the data away; false when it held more than `max`
 * bytes or was cut short (then it is left paused, for the connection to be closed).
 */
function discard(stream: Readable, max: number): Promise<boolean> {
  return new Promise((resolve) => {
    let seen = 0;
    const finish = (ok: boolean) => {
      stream.off("data", onData);
      stream.off("end", onEnd);
      stream.off("error", onAbort);
      stream.off("close", onAbort);
      if (!ok) stream.pause();
      resolve(ok);
    };
    const onData = (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > max) finish(false);
    };
    const onEnd = () => finish(true);
    const onAbort = () => finish(false);
    stream.on("data", onData);
    stream.once("end", onEnd);
    stream.once("error", onAbort);
    stream.once("close", onAbort);
    stream.resume();
  });
}

/**
 * Passes a body through up to `limit` bytes; past it, reads on without passing anything
 * and fails with `payload_too_large` once the body has ended (or at once past `drainLimit`).
 */
class BodyGuard extends Transform {
  readonly #limit: number;
  readonly #drainLimit: number;
  #seen = 0;

  constructor(limit: number, drainLimit: number) {
    super();
    this.#limit = limit;
    this.#drainLimit = drainLimit;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.#seen += chunk.length;
    if (this.#seen > this.#drainLimit) done(tooLarge(this.#limit));
    else if (this.#seen > this.#limit) done();
    else done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    done(this.#seen > this.#limit ? tooLarge(this.#limit, this.#seen) : null);
  }
}
