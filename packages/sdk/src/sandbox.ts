import type { ExecResult, RuntimeName, Sandbox as SandboxInfo, SandboxStatus } from "@strata/api";
import { fromBase64, toBase64 } from "./bytes.ts";
import { type ChildProcess, spawnProcess } from "./child-process.ts";
import {
  CommandBuilder,
  type CommandOutput,
  type CommandRunner,
  type CommandSpec,
  commandOutput,
} from "./command.ts";
import { ApiError } from "./errors.ts";
import { SandboxFs } from "./sandbox-fs.ts";
import { buildCommand, type ShellValue } from "./shell.ts";
import { seg, Transport } from "./transport.ts";

/** What a sandbox is created with (the body of `POST /v1/sandboxes`); every field is optional. */
export interface SandboxOptions {
  /**
   * The root filesystem: a bootable volume (writable and kept; one sandbox at a time) or a
   * snapshot (an ephemeral copy), by id or slug. Default: `builtin:debian-13`, ephemeral.
   */
  root?: string;
  /** Volumes to mount: absolute path → volume id or slug, e.g. `{ "/data": "my-dataset" }`. */
  volumes?: Record<string, string>;
  /** Up to 10 labels to find the sandbox by (`sandboxes.list({ labels })`). */
  labels?: Record<string, string>;
  /** Environment of every command run in the sandbox. */
  env?: Record<string, string>;
  /** Kill the sandbox after this long: `"30m"`, `"600s"`, `"2h"`. Default: lives until killed. */
  timeout?: string;
  /** Memory limit: bytes or a size such as `"1GiB"` (default 1 GiB). */
  memory?: number | string;
  /** CPU limit in cores, e.g. `0.5` (default 1). */
  cpus?: number;
  /** An HTTP port inside the sandbox to expose at `sandbox.url`. */
  port?: number;
  /** Egress allow-list: `"host"`, `"*.domain"`, `"host:port"`, IPs, CIDRs; `[]` means none. */
  allowNet?: string[];
  /** Defaults to the daemon's region. */
  region?: string;
  /** `"crun"` (default) or `"runsc"` (gVisor, where installed). */
  runtime?: RuntimeName;
  /** Stops waiting for the sandbox to start. */
  signal?: AbortSignal;
}

/** Options of `sandbox.exec()` and `sandbox.spawn()`. */
export interface ExecOptions {
  /** Working directory, absolute (default `/root`). */
  cwd?: string;
  /** Variables added to the sandbox's environment. */
  env?: Record<string, string>;
}

/**
 * A handle on one sandbox: run commands with `sh`, `exec` and `spawn`, work with files
 * through `fs`, and end it with `kill()`. A handle from `create()` kills its sandbox when
 * disposed (`await using`); one from `get()` or `list()` never does.
 *
 * @example
 * ```ts
 * import { Client } from "@strata/sdk";
 *
 * const client = new Client();
 * await using sandbox = await client.sandboxes.create({ labels: { job: "demo" } });
 * const name = "world";
 * console.log(await sandbox.sh`echo hello ${name}`.text()); // "hello world"
 * ```
 */
export class Sandbox implements AsyncDisposable {
  /** The sandbox's id, `sbx_…`. */
  readonly id: string;
  /** Files inside the sandbox. */
  readonly fs: SandboxFs;
  readonly #t: Transport;
  readonly #owned: boolean;
  readonly #runner: CommandRunner;
  #info: SandboxInfo;

  /** @internal Use `client.sandboxes.create()`, `get()` or `list()`, or `Sandbox.create()`. */
  constructor(transport: Transport, info: SandboxInfo, options: { owned: boolean }) {
    this.#t = transport;
    this.#info = info;
    this.#owned = options.owned;
    this.id = info.id;
    this.fs = new SandboxFs(transport, info.id);
    this.#runner = {
      run: (spec) => this.#exec(spec),
      spawn: (spec) => spawnProcess(this.#t, this.id, spec),
    };
  }

  /**
   * Creates a sandbox with a client of its own (`endpoint` and `token` as in
   * `new Client()`), and resolves once commands can run in it.
   *
   * @example
   * ```ts
   * await using sandbox = await Sandbox.create({ memory: "2GiB", timeout: "30m" });
   * await sandbox.sh`uname -a`;
   * ```
   */
  static create(
    options: SandboxOptions & { endpoint?: string; token?: string; fetch?: typeof fetch } = {},
  ): Promise<Sandbox> {
    const { endpoint, token, fetch, ...init } = options;
    return createSandbox(new Transport({ endpoint, token, fetch }), init);
  }

  /**
   * Everything the daemon said about the sandbox when this handle last asked (creation,
   * `refresh()`, `kill()` or `extendTimeout()`).
   *
   * @example
   * ```ts
   * console.log(sandbox.info.root, sandbox.info.memory, sandbox.info.expiresAt);
   * ```
   */
  get info(): SandboxInfo {
    return this.#info;
  }

  /**
   * The labels the sandbox was created with.
   *
   * @example
   * ```ts
   * console.log(sandbox.labels.job);
   * ```
   */
  get labels(): Record<string, string> {
    return this.#info.labels;
  }

  /**
   * The URL of the exposed `port` through the daemon's proxy
   * (`http://<id>-<port>.<base domain>:<proxy port>/`), or `null` without a port or once
   * stopped.
   *
   * @example
   * ```ts
   * await using sandbox = await client.sandboxes.create({ port: 8000 });
   * console.log(sandbox.url);
   * ```
   */
  get url(): string | null {
    return this.#info.url;
  }

  /**
   * The status when this handle last asked: `starting`, `ready`, `stopping` or `stopped`.
   * Call `refresh()` for the current one.
   *
   * @example
   * ```ts
   * await sandbox.refresh();
   * if (sandbox.status === "stopped") console.log(sandbox.info.stopReason);
   * ```
   */
  get status(): SandboxStatus {
    return this.#info.status;
  }

  /**
   * Runs a shell command line built from a template: each interpolated value is quoted as
   * one word (arrays as several). Returns a lazy {@link CommandBuilder}; await it to run.
   *
   * @example
   * ```ts
   * const file = "my notes.txt";
   * await sandbox.sh`touch ${file}`;
   * const words = await sandbox.sh`wc -w ${file}`.cwd("/root").text();
   * await sandbox.sh`rm -f ${["a b", "c"]}`; // rm -f 'a b' c
   * ```
   */
  readonly sh = (strings: TemplateStringsArray, ...values: ShellValue[]): CommandBuilder =>
    new CommandBuilder(this.#runner, buildCommand(strings, ...values));

  /**
   * Runs a command to completion and returns its status and output as data, whatever
   * the exit code. An array is an argv (no shell); a string runs with `/bin/sh -c`.
   *
   * @example
   * ```ts
   * const out = await sandbox.exec(["ls", "-l", "/srv"], { cwd: "/" });
   * if (!out.status.success) console.error(out.stderrText);
   * ```
   */
  exec(
    command: string[] | string,
    options: ExecOptions & { stdin?: string | Uint8Array } = {},
  ): Promise<CommandOutput> {
    const stdin =
      typeof options.stdin === "string" ? new TextEncoder().encode(options.stdin) : options.stdin;
    return this.#exec({ ...toSpec(command), cwd: options.cwd, env: options.env, stdin });
  }

  /**
   * Starts a command with its output streamed as it is produced (see {@link ChildProcess}).
   * An array is an argv (no shell); a string runs with `/bin/sh -c`.
   *
   * @example
   * ```ts
   * const child = await sandbox.spawn(["python3", "-u", "train.py"], { stdin: "piped" });
   * const writer = child.stdin!.getWriter();
   * await writer.write(new TextEncoder().encode("go\n"));
   * await writer.close();
   * for await (const chunk of child.stdout) process.stdout.write(chunk);
   * ```
   */
  spawn(
    command: string[] | string,
    options: ExecOptions & { stdin?: "piped" | "null" } = {},
  ): Promise<ChildProcess> {
    return spawnProcess(this.#t, this.id, {
      ...toSpec(command),
      cwd: options.cwd,
      env: options.env,
      stdin: options.stdin ?? "null",
    });
  }

  /**
   * Asks the daemon for the sandbox's current state and returns it (also in `info`).
   *
   * @example
   * ```ts
   * const { status, expiresAt } = await sandbox.refresh();
   * ```
   */
  async refresh(options: { signal?: AbortSignal } = {}): Promise<SandboxInfo> {
    this.#info = await this.#t.json<SandboxInfo>("GET", `/sandboxes/${seg(this.id)}`, {
      signal: options.signal,
    });
    return this.#info;
  }

  /**
   * Kills the sandbox and resolves once none of its processes runs; its mounted volumes
   * are free again (the daemon removes its container, network and ephemeral root right
   * after). Killing a stopped sandbox does nothing.
   *
   * @example
   * ```ts
   * await sandbox.kill();
   * console.log(sandbox.status); // "stopped"
   * ```
   */
  async kill(options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.#t.request("DELETE", `/sandboxes/${seg(this.id)}`, { signal: options.signal });
    await this.refresh(options).catch(() => {
      this.#info = { ...this.#info, status: "stopped", url: null };
    });
  }

  /**
   * Sets a new timeout, counted from now (`"30m"`, `"600s"`, `"2h"`), and returns the new
   * expiry time.
   *
   * @example
   * ```ts
   * const expiresAt = await sandbox.extendTimeout("1h");
   * ```
   */
  async extendTimeout(timeout: string, options: { signal?: AbortSignal } = {}): Promise<Date> {
    this.#info = await this.#t.json<SandboxInfo>("PATCH", `/sandboxes/${seg(this.id)}`, {
      body: { timeout },
      signal: options.signal,
    });
    return new Date(this.#info.expiresAt ?? Date.now());
  }

  /**
   * The sandbox as JSON: its `info`.
   *
   * @example
   * ```ts
   * console.log(JSON.stringify(sandbox)); // {"id":"sbx_…","status":"ready",…}
   * ```
   */
  toJSON(): SandboxInfo {
    return this.#info;
  }

  /**
   * Kills the sandbox if this handle created it; a handle from `get()` or `list()` leaves
   * it running. A sandbox already gone is fine.
   *
   * @example
   * ```ts
   * {
   *   await using sandbox = await client.sandboxes.create();
   *   await sandbox.sh`make test`;
   * } // killed here, even if the tests threw
   * ```
   */
  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.#owned) return;
    try {
      await this.kill();
    } catch (err) {
      if (!(err instanceof ApiError && err.code === "sandbox_not_found")) throw err;
    }
  }

  async #exec(spec: CommandSpec & { stdin?: Uint8Array | undefined }): Promise<CommandOutput> {
    const body = {
      ...(spec.argv !== undefined ? { argv: spec.argv } : { command: spec.command }),
      cwd: spec.cwd,
      env: spec.env,
      stdin: spec.stdin === undefined ? undefined : toBase64(spec.stdin),
    };
    const r = await this.#t.json<ExecResult>("POST", `/sandboxes/${seg(this.id)}/exec`, { body });
    return commandOutput({
      exitCode: r.exitCode,
      signal: r.signal,
      stdout: fromBase64(r.stdout),
      stderr: fromBase64(r.stderr),
      truncated: r.truncated,
    });
  }
}

function toSpec(command: string[] | string): CommandSpec {
  return typeof command === "string" ? { command } : { argv: command };
}

/** `POST /v1/sandboxes`, answered once the sandbox is ready; the handle owns the sandbox. */
export async function createSandbox(t: Transport, options: SandboxOptions): Promise<Sandbox> {
  const { signal, ...body } = options;
  const info = await t.json<SandboxInfo>("POST", "/sandboxes", { body, signal });
  return new Sandbox(t, info, { owned: true });
}
