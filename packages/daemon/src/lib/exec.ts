import { spawn } from "node:child_process";

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
 */
export function run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const [file, ...args] = argv;
  if (file === undefined) return Promise.reject(new Error("run() needs a command"));
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      env: options.env ?? { ...process.env, LC_ALL: "C" },
      signal: options.signal,
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
