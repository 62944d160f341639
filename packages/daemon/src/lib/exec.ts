import { spawn } from "node:child_process";
import { Worker } from "node:worker_threads";
import type { SpawnRequest, SpawnResult } from "./exec-worker.ts";

/** A command that exited non-zero, or could not start. */
export class ExecError extends Error {
  readonly argv: readonly string[];
  readonly exitCode: number | null;
  readonly stderr: string;
  constructor(argv: readonly string[], exitCode: number | null, stderr: string) {
    const tail = stderr.trim().split("\n").slice(-3).join(" | ");
    super(`Command "${argv.join(" ")}" failed (exit ${exitCode ?? "none"}): ${tail}`);
    this.name = "ExecError";
    this.argv = argv;
    this.exitCode = exitCode;
    this.stderr = stderr;
  }
}

export interface RunOptions {
  /** Bytes written to the child's stdin. */
  input?: string | Uint8Array;
  /** Called with each line the child writes to stderr (progress reporting). */
  onStderrLine?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

/**
 * Runs argv without a shell and resolves with its output; rejects with {@link ExecError}
 * when it cannot start or exits non-zero. The one place the daemon starts host tools.
 *
 * Commands start on a worker thread (see exec-worker.ts), so that their fork and exec do
 * not stall the event loop; those with a `signal` or `onStderrLine` start on this thread.
 * Each runs in a process group of its own: a Ctrl-C in stratad's terminal signals the
 * whole foreground group, and must not kill the `crun delete` or `umount` of the shutdown
 * it starts.
 */
export function run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  if (argv[0] === undefined) return Promise.reject(new Error("run() needs a command"));
  if (options.signal === undefined && options.onStderrLine === undefined)
    return spawner.run(argv, options);
  return runHere(argv, options);
}

function runHere(argv: readonly string[], options: RunOptions): Promise<RunResult> {
  const [file, ...args] = argv as [string, ...string[]];
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      env: options.env ?? { ...process.env, LC_ALL: "C" },
      signal: options.signal,
      detached: true,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let partial = "";
    child.stdout?.on("data", (b: Buffer) => out.push(b));
    child.stderr?.on("data", (b: Buffer) => {
      err.push(b);
      if (options.onStderrLine) {
        const lines = (partial + b.toString()).split("\n");
        partial = lines.pop() ?? "";
        for (const line of lines) if (line.trim()) options.onStderrLine(line);
      }
    });
    child.on("error", (e) => reject(new ExecError(argv, null, e.message)));
    child.on("close", (code) => {
      const stdout = Buffer.concat(out).toString();
      const stderr = Buffer.concat(err).toString();
      if (code === 0) resolve({ stdout, stderr });
      else reject(new ExecError(argv, code, stderr || stdout));
    });
    if (child.stdin && options.input !== undefined) {
      // A child may exit without reading its input; that is its exit status's business.
      child.stdin.on("error", () => {});
      child.stdin.end(options.input);
    }
  });
}

/** The one worker thread that starts commands; it does not keep the process alive while idle. */
class Spawner {
  #worker: Worker | undefined;
  #pending = new Map<
    number,
    { argv: readonly string[]; resolve: (r: RunResult) => void; reject: (e: Error) => void }
  >();
  #nextId = 1;

  run(argv: readonly string[], options: RunOptions): Promise<RunResult> {
    const worker = this.#ensure();
    const id = this.#nextId++;
    const req: SpawnRequest = {
      id,
      argv,
      input: options.input,
      env: options.env ?? { ...process.env, LC_ALL: "C" },
    };
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { argv, resolve, reject });
      if (this.#pending.size === 1) worker.ref();
      worker.postMessage(req);
    });
  }

  #ensure(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(new URL("./exec-worker.ts", import.meta.url));
    worker.unref();
    worker.on("message", (r: SpawnResult) => {
      const p = this.#pending.get(r.id);
      if (!p) return;
      this.#pending.delete(r.id);
      if (this.#pending.size === 0) worker.unref();
      if (r.code === 0) p.resolve({ stdout: r.stdout, stderr: r.stderr });
      else p.reject(new ExecError(p.argv, r.code, r.error ?? (r.stderr || r.stdout)));
    });
    // A worker that dies fails what it was running; the next command starts a new one.
    const fail = (why: string) => {
      if (this.#worker !== worker) return;
      this.#worker = undefined;
      const pending = [...this.#pending.values()];
      this.#pending.clear();
      for (const p of pending) p.reject(new ExecError(p.argv, null, why));
    };
    worker.on("error", (e) => fail(`the command worker failed: ${e.message}`));
    worker.on("exit", (code) => fail(`the command worker exited (${code})`));
    this.#worker = worker;
    return worker;
  }
}

const spawner = new Spawner();
