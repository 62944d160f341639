import { constants } from "node:os";
import type { Readable } from "node:stream";
import type { AgentError } from "./agent-error.ts";
import { CreditedStream } from "./credited-stream.ts";
import { deferred, type Port } from "./port.ts";
import {
  decodeExit,
  decodeU32,
  MAX_CHUNK,
  MessageType,
  PayloadWriter,
  ProtocolError,
  STDIN_WINDOW,
} from "./protocol.ts";

/** How a process ended: `code` when it exited, `signal` (e.g. "SIGKILL") when killed. */
export interface ExitStatus {
  code: number | null;
  signal: string | null;
}

const SIGNAL_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(constants.signals).map(([name, n]) => [n, name]),
);

function signalNumber(signal: NodeJS.Signals | number): number {
  const n = typeof signal === "number" ? signal : constants.signals[signal];
  if (n === undefined || !Number.isInteger(n) || n < 0 || n > 64) {
    throw new RangeError(`Cannot send signal ${JSON.stringify(signal)}: not a signal`);
  }
  return n;
}

/**
 * A command running in the sandbox, from {@link AgentClient.exec}.
 *
 * `stdout` and `stderr` are flow-controlled: consume both (or `resume()` them), or a
 * process writing more than about 256 KiB to one of them blocks until you do.
 * Output is complete when `exited` resolves: the agent sends EXIT after the last output
 * the process wrote. Output that descendants left running (`sleep 30 &`) write after the
 * process ended is not collected, and does not delay `exited`.
 *
 * @example
 * const proc = await agent.exec({ argv: ["sh", "-c", "cat; echo done >&2"], env, stdin: true });
 * await proc.writeStdin(Buffer.from("hello\n"));
 * await proc.closeStdin();
 * const [out, status] = await Promise.all([text(proc.stdout), proc.exited]);
 * // out === "hello\n", status.code === 0
 */
export class AgentProcess {
  /** The process id inside the sandbox's PID namespace. */
  readonly pid: number;
  readonly stdout: Readable;
  readonly stderr: Readable;
  /**
   * Settles after the last output frame: resolves with the exit status, or rejects
   * with an {@link AgentError} `agent_gone` if the agent went away first.
   */
  readonly exited: Promise<ExitStatus>;

  #port: Port;
  #out: CreditedStream;
  #err: CreditedStream;
  #exit = deferred<ExitStatus>();
  #hasStdin: boolean;
  #stdinWindow = STDIN_WINDOW;
  #stdinWaiter: PromiseWithResolvers<void> | undefined;
  #stdinChain: Promise<void> = Promise.resolve();
  #ended = false;
  #gone: AgentError | undefined;

  /** Created by {@link AgentClient.exec} once the agent reported STARTED. */
  constructor(port: Port, options: { pid: number; stdin: boolean }) {
    this.#port = port;
    this.pid = options.pid;
    this.#hasStdin = options.stdin;
    const window = (out: number, err: number) => {
      const payload = new PayloadWriter().u32(out).u32(err).finish();
      port.send(MessageType.Window, payload).catch(() => {});
    };
    this.#out = new CreditedStream({ grant: (n) => window(n, 0) });
    this.#err = new CreditedStream({ grant: (n) => window(0, n) });
    this.stdout = this.#out.readable;
    this.stderr = this.#err.readable;
    this.exited = this.#exit.promise;
    port.attach({
      onFrame: (type, payload) => this.#onFrame(type, payload),
      onGone: (error) => this.#onGone(error),
    });
  }

  /**
   * Sends bytes to the process's stdin, in order with other writes; resolves once the
   * agent's window took them. Requires `stdin: true` at exec. After the process ended
   * the bytes are dropped.
   */
  writeStdin(data: Uint8Array): Promise<void> {
    return this.#queueStdin(async () => {
      for (let offset = 0; offset < data.length && !this.#ended; ) {
        if (this.#stdinWindow === 0) {
          this.#stdinWaiter = deferred();
          await this.#stdinWaiter.promise;
          continue;
        }
        const n = Math.min(this.#stdinWindow, MAX_CHUNK, data.length - offset);
        this.#stdinWindow -= n;
        await this.#port.send(MessageType.Stdin, data.subarray(offset, offset + n));
        offset += n;
      }
      if (this.#gone) throw this.#gone;
    });
  }

  /** Closes stdin after the writes queued before it. */
  closeStdin(): Promise<void> {
    return this.#queueStdin(async () => {
      if (!this.#ended) await this.#port.send(MessageType.StdinClose);
    });
  }

  /** Sends a signal to the process's group (its session); a no-op once it ended. */
  async signal(signal: NodeJS.Signals | number): Promise<void> {
    const signo = signalNumber(signal);
    if (this.#gone) throw this.#gone;
    if (this.#ended) return;
    await this.#port.send(MessageType.Signal, new PayloadWriter().u32(signo).finish());
  }

  #queueStdin(step: () => Promise<void>): Promise<void> {
    if (!this.#hasStdin) {
      return Promise.reject(new Error(`Process ${this.pid} was started without stdin`));
    }
    const run = this.#stdinChain.then(() => {
      if (this.#gone) throw this.#gone;
      return step();
    });
    this.#stdinChain = run.catch(() => {});
    return run;
  }

  #onFrame(type: MessageType, payload: Buffer): void {
    switch (type) {
      case MessageType.Stdout:
        this.#out.push(payload);
        break;
      case MessageType.Stderr:
        this.#err.push(payload);
        break;
      case MessageType.StdinWindow:
        this.#stdinWindow += decodeU32(payload);
        this.#wakeStdin();
        break;
      case MessageType.Exit: {
        const { code, signal } = decodeExit(payload);
        this.#ended = true;
        this.#port.release();
        this.#out.end();
        this.#err.end();
        this.#wakeStdin();
        const name = signal === 0 ? null : (SIGNAL_NAMES.get(signal) ?? `SIG${signal}`);
        this.#exit.resolve({ code: signal === 0 ? code : null, signal: name });
        break;
      }
      default:
        throw new ProtocolError(`Unexpected message 0x${type.toString(16)} for a process`);
    }
  }

  #onGone(error: AgentError): void {
    this.#gone = error;
    this.#ended = true;
    this.#out.fail(error, { ifListened: true });
    this.#err.fail(error, { ifListened: true });
    this.#wakeStdin();
    this.#exit.reject(error);
  }

  #wakeStdin(): void {
    const waiter = this.#stdinWaiter;
    this.#stdinWaiter = undefined;
    waiter?.resolve();
  }
}
