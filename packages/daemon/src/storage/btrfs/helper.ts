import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { encodeRequest, type HelperOp, parseAnswer, splitLines } from "./helper-protocol.ts";

/** Where bootstrap builds the helper (packages/btrfs-helper/build.sh). */
export const DEFAULT_HELPER_PATH = fileURLToPath(
  new URL("../../../../btrfs-helper/build/strata-btrfs", import.meta.url),
);

/** A btrfs ioctl that failed: `code` is the errno name (`ENOENT`, `ENOTEMPTY`, `EEXIST`). */
export class BtrfsHelperError extends Error {
  readonly code: string;
  readonly errno: number;
  constructor(message: string, code: string, errno: number) {
    super(message);
    this.name = "BtrfsHelperError";
    this.code = code;
    this.errno = errno;
  }
}

interface Pending {
  resolve: (value: string) => void;
  reject: (err: Error) => void;
  what: string;
}

/**
 * The daemon's end of `strata-btrfs`, one long-lived co-process that performs btrfs ioctls
 * (snapshot, subvolume create and delete, quotas and qgroup limits, read-only flag, sync) for the cost
 * of a line on a pipe instead of an exec of btrfs-progs. Requests run concurrently in the
 * helper; each call resolves when its ioctl is done.
 *
 * If the helper dies, the calls in flight fail (their ioctls may or may not have happened:
 * callers treat them as failed steps and undo) and the next call starts a new helper. The
 * child does not keep the daemon's event loop alive while idle, and dies with the daemon.
 *
 * @example
 * ```ts
 * const h = new BtrfsHelper();
 * await h.call("snap", ["/pool/readonly/snp_1", "/pool/tmp/sbx_1", "0"]);
 * await h.close();
 * ```
 */
export class BtrfsHelper {
  readonly #path: string;
  #child: ChildProcess | undefined;
  #pending = new Map<number, Pending>();
  #nextId = 1;
  #buffered = "";
  #stderr = "";
  #closed = false;

  constructor(options: { path?: string } = {}) {
    this.#path = options.path ?? DEFAULT_HELPER_PATH;
  }

  /** The helper's process id, once one runs (tests kill it to check recovery). */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /**
   * Sends one request; resolves with what the op answers besides ok ("" for most ops),
   * rejects with {@link BtrfsHelperError} when its ioctl fails.
   */
  call(op: HelperOp, args: readonly string[]): Promise<string> {
    if (this.#closed) return Promise.reject(new Error("The btrfs helper is closed"));
    const id = this.#nextId++;
    let line: string;
    try {
      line = encodeRequest(id, op, args);
    } catch (err) {
      return Promise.reject(err);
    }
    const child = this.#ensure();
    return new Promise<string>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, what: `${op} ${args.join(" ")}` });
      this.#setRef(true);
      child.stdin?.write(line);
    });
  }

  /** Ends the helper (it finishes requests in flight first) and waits for it to exit. */
  async close(): Promise<void> {
    this.#closed = true;
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    // Idle, the child and its pipes do not keep the event loop alive; waiting for it must.
    child.ref();
    this.#setRef(true);
    child.stdin?.end();
    await exited;
  }

  #ensure(): ChildProcess {
    if (this.#child) return this.#child;
    const child = spawn(this.#path, [], { stdio: ["pipe", "pipe", "pipe"] });
    this.#child = child;
    this.#buffered = "";
    this.#stderr = "";
    child.stdout?.setEncoding("utf8");
    child.stdout?.on("data", (chunk: string) => {
      const { lines, rest } = splitLines(this.#buffered, chunk);
      this.#buffered = rest;
      for (const line of lines) this.#onAnswer(line);
    });
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (s: string) => {
      this.#stderr = (this.#stderr + s).slice(-2000);
    });
    // A write after the helper died fails with EPIPE; the exit handler rejects the calls.
    child.stdin?.on("error", () => {});
    child.on("error", (err) => this.#onExit(child, `could not run ${this.#path}: ${err.message}`));
    child.on("exit", (code, signal) =>
      this.#onExit(
        child,
        `it exited (${signal ?? `code ${code}`})${this.#stderr ? `: ${this.#stderr.trim()}` : ""}`,
      ),
    );
    child.unref();
    this.#setRef(false);
    return child;
  }

  #onAnswer(line: string): void {
    let answer: ReturnType<typeof parseAnswer>;
    try {
      answer = parseAnswer(line);
    } catch (err) {
      this.#child?.kill("SIGKILL");
      this.#failAll(err instanceof Error ? err.message : String(err));
      return;
    }
    const p = this.#pending.get(answer.id);
    if (!p) return;
    this.#pending.delete(answer.id);
    if (this.#pending.size === 0) this.#setRef(false);
    if (answer.ok) p.resolve(answer.value);
    else
      p.reject(
        new BtrfsHelperError(
          `btrfs ${p.what} failed: ${answer.message}`,
          answer.code,
          answer.errno,
        ),
      );
  }

  #onExit(child: ChildProcess, why: string): void {
    if (this.#child !== child) return;
    this.#child = undefined;
    this.#failAll(`The btrfs helper stopped: ${why}`);
  }

  #failAll(message: string): void {
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.reject(new Error(`${message} (while running: ${p.what})`));
  }

  /** Keeps the event loop alive only while answers are awaited. */
  #setRef(on: boolean): void {
    const streams = [this.#child?.stdout, this.#child?.stderr, this.#child?.stdin] as const;
    for (const s of streams) {
      const sock = s as unknown as { ref?: () => void; unref?: () => void } | null | undefined;
      if (on) sock?.ref?.();
      else sock?.unref?.();
    }
  }
}
