import type { Event, Sandbox as SandboxInfo, SandboxStatus } from "@strata/api";
import type { ChildProcess } from "./child-process.ts";
import { CommandBuilder, type CommandOutput, type CommandRunner } from "./command.ts";
import { ApiError } from "./errors.ts";
import { type EventListOptions, listEvents } from "./events.ts";
import type { PaginatedList } from "./paginated-list.ts";
import { commandRunner, type ExecOptions, toSpec } from "./sandbox-commands.ts";
import { SandboxFs } from "./sandbox-fs.ts";
import type { SandboxOptions } from "./sandbox-options.ts";
import { SandboxSnapshots } from "./sandbox-snapshots.ts";
import { buildCommand, type ShellValue } from "./shell.ts";
import { seg, Transport } from "./transport.ts";

export type { ExecOptions } from "./sandbox-commands.ts";
export type { SandboxOptions } from "./sandbox-options.ts";

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
  /** Snapshots of the sandbox's root filesystem: take one, list them. */
  readonly snapshots: SandboxSnapshots;
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
    this.snapshots = new SandboxSnapshots(transport, info.id);
    this.#runner = commandRunner(transport, info.id);
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
   * `refresh()`, `kill()`, `extendTimeout()`, `pause()`, `resume()`, `stop()`, `start()`).
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
   * The status when this handle last asked: `starting`, `ready`, `paused`, `stopping` or
   * `stopped`. Call `refresh()` for the current one.
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
    return this.#runner.run({ ...toSpec(command), cwd: options.cwd, env: options.env, stdin });
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
    return this.#runner.spawn({
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
   * after), and a persistent sandbox's disk is deleted (`stop()` keeps it). Killing a
   * stopped ephemeral sandbox does nothing.
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
   * Freezes every process of the sandbox (cgroup freezer): no CPU is used, memory and open
   * connections are kept. Commands, files and snapshots are refused with `sandbox_paused`
   * until `resume()`. Pausing a paused sandbox does nothing. Returns the new state.
   *
   * @example
   * ```ts
   * await sandbox.pause();
   * console.log(sandbox.status); // "paused"
   * await sandbox.resume();
   * ```
   */
  pause(options: { signal?: AbortSignal } = {}): Promise<SandboxInfo> {
    return this.#lifecycle("pause", options.signal);
  }

  /**
   * Thaws a paused sandbox: its processes go on where they were. Resuming a ready sandbox
   * does nothing. Returns the new state.
   *
   * @example
   * ```ts
   * await sandbox.resume();
   * await sandbox.sh`uptime`;
   * ```
   */
  resume(options: { signal?: AbortSignal } = {}): Promise<SandboxInfo> {
    return this.#lifecycle("resume", options.signal);
  }

  /**
   * Stops a persistent sandbox (created with `persistent: true`), keeping its disk for a
   * later `start()`; an ephemeral one refuses with `sandbox_not_persistent` (use `kill()`).
   * Stopping a stopped sandbox does nothing. Returns the new state.
   *
   * @example
   * ```ts
   * const sandbox = await client.sandboxes.create({ persistent: true });
   * await sandbox.stop();
   * console.log(sandbox.info.startable); // true
   * ```
   */
  stop(options: { signal?: AbortSignal } = {}): Promise<SandboxInfo> {
    return this.#lifecycle("stop", options.signal);
  }

  /**
   * Boots a stopped persistent sandbox again from its disk and resolves once commands can
   * run (`sandbox_not_ready` unless it is stopped and `startable`). Returns the new state.
   *
   * @example
   * ```ts
   * const sandbox = await client.sandboxes.get("sbx_0123456789abcdefghij");
   * if (sandbox?.info.startable) await sandbox.start();
   * ```
   */
  start(options: { signal?: AbortSignal } = {}): Promise<SandboxInfo> {
    return this.#lifecycle("start", options.signal);
  }

  /**
   * Lists what happened to this sandbox, oldest first: scheduled snapshot ticks and skips,
   * snapshots that became ready or failed, pauses, resumes, stops and starts. Iterate the
   * result with `for await` to walk all pages.
   *
   * @example
   * ```ts
   * for await (const e of await sandbox.events({ type: "snapshot.skipped" })) console.log(e.message);
   * ```
   */
  events(options: Omit<EventListOptions, "sandbox"> = {}): Promise<PaginatedList<Event>> {
    const { type, limit, cursor, signal } = options;
    return listEvents(this.#t, `/sandboxes/${seg(this.id)}/events`, {
      type,
      limit,
      cursor,
      signal,
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

  async #lifecycle(
    action: "pause" | "resume" | "stop" | "start",
    signal: AbortSignal | undefined,
  ): Promise<SandboxInfo> {
    this.#info = await this.#t.json<SandboxInfo>("POST", `/sandboxes/${seg(this.id)}/${action}`, {
      signal,
    });
    return this.#info;
  }
}

/** `POST /v1/sandboxes`, answered once the sandbox is ready; the handle owns the sandbox. */
export async function createSandbox(t: Transport, options: SandboxOptions): Promise<Sandbox> {
  const { signal, ...body } = options;
  const info = await t.json<SandboxInfo>("POST", "/sandboxes", { body, signal });
  return new Sandbox(t, info, { owned: true });
}
