/**
 * The daemon's side of the exec WebSocket, for the fake daemon of `@strata/sdk/testing`
 * (docs/api.md, "Exec over WebSocket"). A test script plays it one frame at a time.
 */
import type { WebSocket } from "ws";

/** What the client sent after its start message: stdin bytes, or a control message. */
export type ExecInput = { stdin: Buffer } | { control: Record<string, unknown> };

/**
 * One accepted exec WebSocket, seen from the daemon. Sending does nothing once the
 * connection is closed.
 *
 * @example
 * ```ts
 * const daemon = await startFakeDaemon(handler, {
 *   exec: () => async (exec) => {
 *     const start = await exec.start; // { command: "cat", stdin: true }
 *     exec.started(42);
 *     const input = await exec.next(); // { stdin: <Buffer 68 69> }
 *     if (input && "stdin" in input) exec.stdout(input.stdin);
 *     exec.exit({ exitCode: 0 });
 *   },
 * });
 * ```
 */
export interface FakeExec {
  /** The client's first frame, parsed: `{argv | command, cwd?, env?, stdin?}`. */
  readonly start: Promise<Record<string, unknown>>;
  /** Resolves with the close code once the connection closed, from either side (1006: dropped). */
  readonly closed: Promise<{ code: number }>;
  /** The next frame after the start, in order; `undefined` once the connection closed. */
  next(): Promise<ExecInput | undefined>;
  /** `{"type":"started","pid"}`: the process runs (`null`: it could not start). */
  started(pid: number | null): void;
  /** A binary frame of standard output. */
  stdout(data: string | Uint8Array): void;
  /** A binary frame of standard error. */
  stderr(data: string | Uint8Array): void;
  /** `{"type":"exit",...}`, then a normal close. */
  exit(status: { exitCode: number | null; signal?: string | null }): void;
  /** `{"type":"error","code","message"}`, then close code 4000, as the daemon reports a failure. */
  fail(error: { code: string; message: string; requestId?: string }): void;
  /** Ends the TCP connection without a close frame, as a dead daemon or network does. */
  drop(): void;
}

/** The script a test plays on an accepted exec WebSocket. */
export type ExecScript = (exec: FakeExec) => void | Promise<void>;

const STREAM = { stdout: 1, stderr: 2 } as const;

/** Wraps an accepted WebSocket as a {@link FakeExec}. */
export function fakeExec(ws: WebSocket): FakeExec {
  const inputs: ExecInput[] = [];
  const waiters: ((input: ExecInput | undefined) => void)[] = [];
  const start = Promise.withResolvers<Record<string, unknown>>();
  start.promise.catch(() => {});
  let hasStart = false;
  let isClosed = false;
  const closed = new Promise<{ code: number }>((resolve) =>
    ws.once("close", (code: number) => {
      isClosed = true;
      start.reject(new Error(`The exec WebSocket closed (code ${code}) before its start message`));
      for (const w of waiters.splice(0)) w(undefined);
      resolve({ code });
    }),
  );
  ws.on("message", (data: Buffer, isBinary: boolean) => {
    if (!hasStart) {
      hasStart = true;
      start.resolve(JSON.parse(String(data)) as Record<string, unknown>);
      return;
    }
    const input: ExecInput = isBinary
      ? { stdin: Buffer.from(data) }
      : { control: JSON.parse(String(data)) as Record<string, unknown> };
    const waiter = waiters.shift();
    if (waiter) waiter(input);
    else inputs.push(input);
  });
  const send = (data: string | Buffer) => {
    if (ws.readyState === ws.OPEN) ws.send(data);
  };
  const output = (tag: number, data: string | Uint8Array) =>
    send(Buffer.concat([Buffer.from([tag]), Buffer.from(data)]));
  return {
    start: start.promise,
    closed,
    next: () => {
      const input = inputs.shift();
      if (input || isClosed) return Promise.resolve(input);
      return new Promise((resolve) => waiters.push(resolve));
    },
    started: (pid) => send(JSON.stringify({ type: "started", pid })),
    stdout: (data) => output(STREAM.stdout, data),
    stderr: (data) => output(STREAM.stderr, data),
    exit: ({ exitCode, signal = null }) => {
      send(JSON.stringify({ type: "exit", exitCode, signal }));
      if (ws.readyState === ws.OPEN) ws.close(1000);
    },
    fail: (error) => {
      send(JSON.stringify({ type: "error", ...error }));
      if (ws.readyState === ws.OPEN) ws.close(4000, error.code);
    },
    drop: () => ws.terminate(),
  };
}
