/**
 * The worker thread behind `run()`: it starts commands, so that the fork and exec of each
 * one (several ms on a busy host, during which the calling thread waits) never stalls the
 * daemon's event loop. Messages: `{ id, argv, input?, env }` in, `{ id, code, stdout,
 * stderr, error? }` out.
 */
import { spawn } from "node:child_process";
import { parentPort } from "node:worker_threads";

export interface SpawnRequest {
  id: number;
  argv: readonly string[];
  input?: string | Uint8Array | undefined;
  env: NodeJS.ProcessEnv;
}

export interface SpawnResult {
  id: number;
  code: number | null;
  stdout: string;
  stderr: string;
  /** Why the command could not start. */
  error?: string;
}

parentPort?.on("message", (req: SpawnRequest) => {
  const [file, ...args] = req.argv;
  const child = spawn(file!, args, {
    stdio: [req.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    env: req.env,
    // Its own process group (see run() in exec.ts).
    detached: true,
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let failed: string | undefined;
  child.stdout?.on("data", (b: Buffer) => out.push(b));
  child.stderr?.on("data", (b: Buffer) => err.push(b));
  child.on("error", (e) => {
    failed = e.message;
  });
  child.on("close", (code) => {
    const result: SpawnResult = {
      id: req.id,
      code: failed === undefined ? code : null,
      stdout: Buffer.concat(out).toString(),
      stderr: Buffer.concat(err).toString(),
      ...(failed === undefined ? {} : { error: failed }),
    };
    parentPort?.postMessage(result);
  });
  if (child.stdin && req.input !== undefined) {
    // A child may exit without reading its input; that is its exit status's business.
    child.stdin.on("error", () => {});
    child.stdin.end(req.input);
  }
});
