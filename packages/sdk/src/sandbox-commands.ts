import type { ExecResult } from "@strata/api";
import { fromBase64, toBase64 } from "./bytes.ts";
import { spawnProcess } from "./child-process.ts";
import { type CommandRunner, type CommandSpec, commandOutput } from "./command.ts";
import { seg, type Transport } from "./transport.ts";

/** Options of `sandbox.exec()` and `sandbox.spawn()`. */
export interface ExecOptions {
  /** Working directory, absolute (default `/root`). */
  cwd?: string;
  /** Variables added to the sandbox's environment. */
  env?: Record<string, string>;
}

/**
 * How the commands of sandbox `sandboxId` reach the daemon: `run` is one `POST /exec`
 * whose answer holds the whole output, `spawn` opens the exec WebSocket and streams.
 */
export function commandRunner(t: Transport, sandboxId: string): CommandRunner {
  return {
    run: async (spec) => {
      const body = {
        ...(spec.argv !== undefined ? { argv: spec.argv } : { command: spec.command }),
        cwd: spec.cwd,
        env: spec.env,
        stdin: spec.stdin === undefined ? undefined : toBase64(spec.stdin),
      };
      const r = await t.json<ExecResult>("POST", `/sandboxes/${seg(sandboxId)}/exec`, { body });
      return commandOutput({
        exitCode: r.exitCode,
        signal: r.signal,
        stdout: fromBase64(r.stdout),
        stderr: fromBase64(r.stderr),
        truncated: r.truncated,
      });
    },
    spawn: (spec) => spawnProcess(t, sandboxId, spec),
  };
}

/** An argv (no shell) or a command line for `/bin/sh -c`. */
export function toSpec(command: string[] | string): CommandSpec {
  return typeof command === "string" ? { command } : { argv: command };
}
