import type { Sandbox as SandboxInfo } from "@strata/api";
import { type ByteStream, readAll, shellCode } from "./bytes.ts";
import {
  type CommandOutput,
  type CommandSpec,
  type CommandStatus,
  commandOutput,
} from "./command.ts";
import { ApiError, StrataError } from "./errors.ts";
import { seg, type Transport } from "./transport.ts";

/** Tags of the daemon's binary frames. */
const STREAM = { stdout: 1, stderr: 2 } as const;
/** The daemon takes frames of at most 1 MiB; stdin goes in smaller pieces. */
const STDIN_FRAME = 256 * 1024;
/** Past this much unsent stdin, writes wait. */
const HIGH_WATER = 1024 * 1024;

/** Node's WebSocket (undici) takes headers in a second-argument object; browsers' does not. */
type WebSocketWithInit = new (url: string, init: { headers: Record<string, string> }) => WebSocket;

interface Exit {
  exitCode: number | null;
  signal: string | null;
}

/**
 * A process running in a sandbox, streaming over the daemon's exec WebSocket. Its output
 * arrives as it is produced; read `stdout` and `stderr` as they come, or call `output()`.
 * Disposing it kills the process if it still runs. Node only for now: the daemon takes the
 * token only in a header, which browsers' WebSocket cannot send.
 *
 * @example
 * ```ts
 * await using child = await sandbox.sh`echo a; sleep 1; echo b`.spawn();
 * for await (const chunk of child.stdout) console.log(new TextDecoder().decode(chunk));
 * const { success, code } = await child.status;
 * ```
 */
export class ChildProcess implements AsyncDisposable {
  /** The process id inside the sandbox; `null` when the command could not start (exit 126/127). */
  readonly pid: number | null;
  /** Standard output as it is produced; `for await` walks it. */
  readonly stdout: ByteStream;
  /** Standard error as it is produced; `for await` walks it. */
  readonly stderr: ByteStream;
  /** Standard input when spawned with `stdin: "piped"`; close it to send end-of-file. */
  readonly stdin: WritableStream<Uint8Array> | null;
  /**
   * Settles when the process ends, with its exit code or signal. Rejects when the
   * connection to the daemon drops first (code `connection_closed`) or the daemon reports
   * an error.
   */
  readonly status: Promise<CommandStatus>;
  readonly #ws: WebSocket;
  readonly #exit: Promise<Exit>;
  #done = false;

  /** @internal Use `sandbox.spawn()` or `` sandbox.sh`…`.spawn() ``. */
  constructor(init: {
    ws: WebSocket;
    pid: number | null;
    stdout: ByteStream;
    stderr: ByteStream;
    stdin: WritableStream<Uint8Array> | null;
    exit: Promise<Exit>;
  }) {
    this.#ws = init.ws;
    this.pid = init.pid;
    this.stdout = init.stdout;
    this.stderr = init.stderr;
    this.stdin = init.stdin;
    this.#exit = init.exit;
    this.status = init.exit.then((e) => ({
      success: e.exitCode === 0 && e.signal === null,
      code: shellCode(e.exitCode, e.signal),
      signal: e.signal,
    }));
    // Nobody may ever look at the status; a dropped connection must not crash the process.
    this.status.catch(() => {});
    void init.exit.then(
      () => {
        this.#done = true;
      },
      () => {
        this.#done = true;
      },
    );
  }

  /**
   * Sends a signal to the process's group (default `SIGTERM`). Does nothing once it ended.
   *
   * @example
   * ```ts
   * const child = await sandbox.sh`sleep 600`.spawn();
   * await child.kill("SIGKILL");
   * console.log((await child.status).signal); // "SIGKILL"
   * ```
   */
  async kill(signal = "SIGTERM"): Promise<void> {
    if (this.#done || this.#ws.readyState !== WebSocket.OPEN) return;
    this.#ws.send(JSON.stringify({ type: "signal", signal }));
  }

  /**
   * Waits for the process to end and collects whatever of stdout and stderr was not read
   * yet (a stream already being read counts as empty).
   *
   * @example
   * ```ts
   * const child = await sandbox.sh`make test`.spawn();
   * const { status, stdoutText } = await child.output();
   * ```
   */
  async output(): Promise<CommandOutput> {
    const read = (s: ReadableStream<Uint8Array>) =>
      s.locked ? Promise.resolve(new Uint8Array()) : readAll(s);
    const [stdout, stderr, exit] = await Promise.all([
      read(this.stdout),
      read(this.stderr),
      this.#exit,
    ]);
    return commandOutput({ ...exit, stdout, stderr, truncated: false });
  }

  /**
   * Kills the process (SIGKILL) unless it already ended, and waits for it to end.
   *
   * @example
   * ```ts
   * {
   *   await using child = await sandbox.sh`tail -f /var/log/app.log`.spawn();
   *   // ...
   * } // killed here
   * ```
   */
  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.#done) await this.kill("SIGKILL");
    await this.#exit.catch(() => {});
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.close(1000);
  }
}

/**
 * Opens the exec WebSocket and resolves with the process once the daemon reports it
 * started; stdin is writable only from then on, because the daemon drops frames that
 * arrive before its `started` message. A handshake the daemon refuses is explained by
 * asking for the sandbox over REST (a missing sandbox, a bad token, or a stopped sandbox).
 *
 * The token travels in the `Authorization` header of the handshake, which Node's
 * WebSocket (undici) accepts in a second-argument object; browsers cannot send it.
 */
export async function spawnProcess(
  t: Transport,
  sandboxId: string,
  spec: CommandSpec & { stdin: "piped" | "null" },
): Promise<ChildProcess> {
  const url = t.wsUrl(`/sandboxes/${seg(sandboxId)}/exec/ws`);
  const ws = new (WebSocket as unknown as WebSocketWithInit)(url, {
    headers: await t.authHeaders(),
  });
  ws.binaryType = "arraybuffer";

  const stdout = new OutputStream();
  const stderr = new OutputStream();
  const started = Promise.withResolvers<number | null>();
  const exit = Promise.withResolvers<Exit>();
  exit.promise.catch(() => {});
  let opened = false;
  let isStarted = false;
  let exited: Exit | undefined;
  let failure: Error | undefined;

  ws.addEventListener("open", () => {
    opened = true;
    const start =
      spec.argv !== undefined ? { argv: spec.argv } : { command: spec.command ?? "true" };
    ws.send(
      JSON.stringify({ ...start, cwd: spec.cwd, env: spec.env, stdin: spec.stdin === "piped" }),
    );
  });
  ws.addEventListener("message", (ev: MessageEvent) => {
    if (typeof ev.data === "string") {
      const msg = parseFrame(ev.data);
      if (msg?.type === "started") {
        isStarted = true;
        started.resolve(typeof msg.pid === "number" ? msg.pid : null);
      } else if (msg?.type === "exit") {
        exited = {
          exitCode: typeof msg.exitCode === "number" ? msg.exitCode : null,
          signal: typeof msg.signal === "string" ? msg.signal : null,
        };
      } else if (msg?.type === "error") {
        failure = new ApiError({
          status: 0,
          code: typeof msg.code === "string" ? msg.code : "internal",
          message: typeof msg.message === "string" ? msg.message : "The daemon reported an error",
          requestId: typeof msg.requestId === "string" ? msg.requestId : undefined,
        });
      }
      return;
    }
    const frame = new Uint8Array(ev.data as ArrayBuffer);
    const payload = frame.subarray(1);
    if (frame[0] === STREAM.stdout) stdout.push(payload);
    else if (frame[0] === STREAM.stderr) stderr.push(payload);
  });
  ws.addEventListener("close", (ev: CloseEvent) => {
    void (async () => {
      let err: Error | undefined;
      if (!exited) {
        err =
          failure ??
          (opened
            ? new StrataError(
                "connection_closed",
                `The connection to a process in sandbox ${sandboxId} closed (code ${ev.code}) before it reported its exit status`,
              )
            : await explainRefusal(t, sandboxId, url));
      }
      stdout.end(err);
      stderr.end(err);
      if (exited) exit.resolve(exited);
      else exit.reject(err);
      if (!isStarted) started.reject(err);
    })();
  });

  const pid = await started.promise;
  const stdin =
    spec.stdin === "piped"
      ? new WritableStream<Uint8Array>({
          async write(chunk) {
            for (let i = 0; i < chunk.byteLength; i += STDIN_FRAME) {
              // The browser-shaped WebSocket has no write callback: poll its send buffer.
              while (ws.bufferedAmount > HIGH_WATER && ws.readyState === WebSocket.OPEN) {
                await new Promise((r) => setTimeout(r, 5));
              }
              if (ws.readyState !== WebSocket.OPEN) {
                throw new StrataError(
                  "connection_closed",
                  `Cannot write to the stdin of process ${pid}: the connection closed`,
                );
              }
              ws.send(chunk.subarray(i, i + STDIN_FRAME));
            }
          },
          close() {
            if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "stdin_close" }));
          },
          abort() {
            if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "stdin_close" }));
          },
        })
      : null;
  return new ChildProcess({
    ws,
    pid,
    stdout: stdout.readable,
    stderr: stderr.readable,
    stdin,
    exit: exit.promise,
  });
}

/**
 * One output stream of the process. A reader may stop early (`break` in `for await`
 * cancels the stream); what arrives after that is dropped.
 */
class OutputStream {
  readonly readable: ByteStream;
  #ctl!: ReadableStreamDefaultController<Uint8Array>;
  #open = true;

  constructor() {
    this.readable = new ReadableStream<Uint8Array>({
      start: (c) => {
        this.#ctl = c;
      },
      cancel: () => {
        this.#open = false;
      },
    }) as ByteStream;
  }

  push(chunk: Uint8Array): void {
    if (this.#open) this.#ctl.enqueue(chunk);
  }

  /** Ends the stream, with an error when the process's end was not seen. */
  end(err: Error | undefined): void {
    if (!this.#open) return;
    this.#open = false;
    if (err) this.#ctl.error(err);
    else this.#ctl.close();
  }
}

function parseFrame(text: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === "object" && v !== null ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Why the daemon refused the WebSocket: the same request over REST says it in words. */
async function explainRefusal(t: Transport, sandboxId: string, url: string): Promise<Error> {
  try {
    const info = await t.json<SandboxInfo>("GET", `/sandboxes/${seg(sandboxId)}`);
    if (info.status !== "ready") {
      return new StrataError(
        "sandbox_not_running",
        `Cannot run a command in sandbox ${sandboxId}: it is ${info.status}`,
      );
    }
    return new StrataError(
      "connection_closed",
      `Cannot open the exec WebSocket ${url}: the daemon refused the connection`,
    );
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}
