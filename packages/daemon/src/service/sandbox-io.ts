import type { Readable } from "node:stream";
import type { DirEntry, ExecRequest, ExecResult, FileStat } from "@strata/api";
import type { Store } from "../db/store.ts";
import { q, StrataError } from "../errors.ts";
import { type AgentClient, AgentError, type AgentProcess } from "../runtime/agent/client.ts";
import { requireReady, sandboxNotFound } from "./refusals.ts";
import type { LiveSandboxes } from "./sandbox-registry.ts";

/** Environment every command starts with; the sandbox's and the request's env override it. */
export const BASE_ENV: Record<string, string> = {
  PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  HOME: "/root",
  LANG: "C.UTF-8",
  TERM: "xterm",
};

/**
 * Why a command could not start, as a shell reports it: an exit status and a message, not
 * an API error (the request was fine; the sandbox's state decided).
 */
const START_FAILURES: Record<string, { exitCode: number; text: string }> = {
  ENOENT: { exitCode: 127, text: "command not found" },
  EACCES: { exitCode: 126, text: "permission denied" },
  ENOEXEC: { exitCode: 126, text: "cannot execute binary file" },
  ENOTDIR: { exitCode: 126, text: "a part of the path is not a directory" },
  EAGAIN: {
    exitCode: 126,
    text: "cannot fork: resource temporarily unavailable (the sandbox's process limit)",
  },
  ENOMEM: { exitCode: 126, text: "cannot fork: out of memory" },
};

/** Each stream of a run-to-completion exec keeps at most this much; the rest is counted as truncated. */
const OUTPUT_CAP = 16 * 1024 * 1024;

export interface StartOptions {
  argv?: string[] | undefined;
  command?: string | undefined;
  cwd?: string | undefined;
  env?: Record<string, string> | undefined;
  stdin: boolean;
}

/**
 * Commands and files inside running sandboxes, through each sandbox's agent: everything
 * runs in the sandbox's namespaces as its user, so paths resolve inside the sandbox.
 */
export class SandboxIo {
  readonly #store: Store;
  readonly #live: LiveSandboxes;
  constructor(deps: { store: Store; live: LiveSandboxes }) {
    this.#store = deps.store;
    this.#live = deps.live;
  }

  /** A ready sandbox's agent and environment; fails with the matching 4xx otherwise. */
  #context(orgId: string, id: string): { agent: AgentClient; env: Record<string, string> } {
    const sandbox = this.#store.sandboxes.find(orgId, id);
    if (!sandbox) throw sandboxNotFound(id);
    requireReady(sandbox, "run commands or touch files in");
    const handle = this.#live.handle(sandbox.id);
    if (!handle) throw new StrataError("sandbox_not_running", `Sandbox ${id} is not running`);
    // The runtime's variables (where the trust store is) go below the sandbox's own.
    return { agent: handle.agent, env: { ...handle.env, ...sandbox.env } };
  }

  /**
   * The environment every command of a ready sandbox starts with, before its own: Strata's
   * base, the runtime's (where the trust store is), then the sandbox's.
   */
  env(orgId: string, id: string): Record<string, string> {
    return { ...BASE_ENV, ...this.#context(orgId, id).env };
  }

  /** Starts a process. A command that cannot start (missing, not executable) is an exit code, as in a shell. */
  async start(
    orgId: string,
    id: string,
    options: StartOptions,
  ): Promise<AgentProcess | ExecResult> {
    const ctx = this.#context(orgId, id);
    const argv = commandArgv(options);
    const env = { ...BASE_ENV, ...ctx.env, ...(options.env ?? {}) };
    try {
      return await ctx.agent.exec({ argv, cwd: options.cwd ?? "/root", env, stdin: options.stdin });
    } catch (err) {
      const failure = err instanceof AgentError ? START_FAILURES[err.code] : undefined;
      if (failure) {
        return {
          exitCode: failure.exitCode,
          signal: null,
          stdout: "",
          stderr: Buffer.from(`strata: ${argv[0]}: ${failure.text}\n`).toString("base64"),
          truncated: false,
        };
      }
      throw agentError(err, argv[0] ?? "");
    }
  }

  /** Runs a command to completion and returns its exit status and output. */
  async exec(orgId: string, id: string, req: ExecRequest): Promise<ExecResult> {
    const started = await this.start(orgId, id, { ...req, stdin: req.stdin !== undefined });
    if (!("pid" in started)) return started;
    const run = async () => {
      if (req.stdin !== undefined) {
        await started.writeStdin(Buffer.from(req.stdin, "base64"));
        await started.closeStdin();
      }
      return Promise.all([collect(started.stdout), collect(started.stderr), started.exited]);
    };
    const [stdout, stderr, status] = await run().catch((err: unknown) => {
      throw agentError(err, "the command");
    });
    return {
      exitCode: status.code,
      signal: status.signal,
      stdout: stdout.data.toString("base64"),
      stderr: stderr.data.toString("base64"),
      truncated: stdout.truncated || stderr.truncated,
    };
  }

  readFile(orgId: string, id: string, path: string): Readable {
    return this.#agent(orgId, id, path).readFile(checkPath(path));
  }

  /**
   * Opens a regular file: its size and its content, in one round trip to the agent. A
   * directory is `file_error` with errno EISDIR.
   */
  async openFile(
    orgId: string,
    id: string,
    path: string,
  ): Promise<{ size: number; stream: Readable }> {
    const { stat, stream } = await this.#fs(path, (a) => a.openFile(checkPath(path)), orgId, id);
    return { size: stat.size, stream };
  }

  async writeFile(
    orgId: string,
    id: string,
    path: string,
    data: AsyncIterable<Uint8Array>,
    options: { mode?: number | undefined; append?: boolean | undefined },
  ): Promise<void> {
    await this.#fs(path, (a) => a.writeFile(checkPath(path), data, options), orgId, id);
  }

  async stat(orgId: string, id: string, path: string, noFollow: boolean): Promise<FileStat> {
    const s = await this.#fs(path, (a) => a.stat(checkPath(path), { noFollow }), orgId, id);
    return {
      path,
      type: s.type,
      mode: s.mode & 0o7777,
      uid: s.uid,
      gid: s.gid,
      size: s.size,
      mtime: new Date(s.mtimeMs).toISOString(),
      linkTarget: s.linkTarget,
    };
  }

  async readDir(orgId: string, id: string, path: string): Promise<DirEntry[]> {
    return this.#fs(path, (a) => a.readDir(checkPath(path)), orgId, id);
  }

  async mkdir(
    orgId: string,
    id: string,
    path: string,
    options: { recursive?: boolean | undefined; mode?: number | undefined },
  ): Promise<void> {
    await this.#fs(path, (a) => a.mkdir(checkPath(path), options), orgId, id);
  }

  async remove(orgId: string, id: string, path: string, recursive: boolean): Promise<void> {
    await this.#fs(path, (a) => a.remove(checkPath(path), { recursive }), orgId, id);
  }

  async rename(orgId: string, id: string, from: string, to: string): Promise<void> {
    checkPath(to);
    await this.#fs(from, (a) => a.rename(checkPath(from), to), orgId, id);
  }

  async chmod(orgId: string, id: string, path: string, mode: number): Promise<void> {
    await this.#fs(path, (a) => a.chmod(checkPath(path), mode), orgId, id);
  }

  #agent(orgId: string, id: string, _path: string): AgentClient {
    return this.#context(orgId, id).agent;
  }

  async #fs<T>(
    path: string,
    op: (agent: AgentClient) => Promise<T>,
    orgId: string,
    id: string,
  ): Promise<T> {
    const agent = this.#agent(orgId, id, path);
    try {
      return await op(agent);
    } catch (err) {
      throw agentError(err, path);
    }
  }
}

function commandArgv(options: StartOptions): string[] {
  if (options.argv !== undefined && options.command !== undefined) {
    throw new StrataError(
      "invalid_request",
      "Invalid request: give either argv or command, not both",
    );
  }
  if (options.argv !== undefined) {
    if (options.argv.length === 0 || options.argv.some((a) => a.includes("\0"))) {
      throw new StrataError(
        "invalid_request",
        "Invalid request: argv must be non-empty strings without NUL bytes",
      );
    }
    return options.argv;
  }
  if (options.command !== undefined) return ["/bin/sh", "-c", options.command];
  throw new StrataError("invalid_request", "Invalid request: give argv or command");
}

function checkPath(path: string): string {
  if (!path.startsWith("/") || path.includes("\0") || path.length > 4096) {
    throw new StrataError(
      "invalid_request",
      `Invalid path ${q(path)}: give an absolute path inside the sandbox`,
    );
  }
  return path;
}

/** Maps an agent failure to the API's file errors; other failures pass through. */
export function agentError(err: unknown, path: string): unknown {
  if (!(err instanceof AgentError)) return err;
  if (err.code === "agent_gone")
    return new StrataError(
      "sandbox_not_running",
      `The sandbox stopped while working on ${q(path)}`,
    );
  if (err.code === "ENOENT")
    return new StrataError("file_not_found", `No such file or directory: ${q(path)}`, {
      errno: "ENOENT",
    });
  return new StrataError(
    "file_error",
    `Cannot complete the operation on ${q(path)}: ${err.code} (${err.message})`,
    { errno: err.code },
  );
}

async function collect(stream: Readable): Promise<{ data: Buffer; truncated: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  let truncated = false;
  for await (const chunk of stream) {
    const b = chunk as Buffer;
    if (size + b.length > OUTPUT_CAP) {
      truncated = true;
      const room = OUTPUT_CAP - size;
      if (room > 0) chunks.push(b.subarray(0, room));
      size = OUTPUT_CAP;
      continue;
    }
    chunks.push(b);
    size += b.length;
  }
  return { data: Buffer.concat(chunks), truncated };
}

/** A process started in a sandbox, with its output streams, stdin, signals and exit status. */
export type ExecProcess = AgentProcess;
