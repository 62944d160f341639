import { encodeUtf8, shellCode, utf8 } from "./bytes.ts";
import type { ChildProcess } from "./child-process.ts";
import { CommandError, StrataError } from "./errors.ts";

/** How a process ended. */
export interface CommandStatus {
  /** Whether it exited with code 0. */
  success: boolean;
  /** The exit code; for a process a signal killed, 128 + the signal's number, as in a shell. */
  code: number;
  /** The signal that killed it (`"SIGKILL"`), or `null` when it exited. */
  signal: string | null;
}

/** What a finished command produced. */
export interface CommandOutput {
  status: CommandStatus;
  stdout: Uint8Array;
  stderr: Uint8Array;
  /** `stdout` decoded as UTF-8. */
  stdoutText: string;
  /** `stderr` decoded as UTF-8. */
  stderrText: string;
  /** Whether the daemon cut the output at its cap (16 MiB per stream for a non-streamed exec). */
  truncated: boolean;
}

/** What the daemon runs: a shell command line or an argv, with its working dir and environment. */
export interface CommandSpec {
  command?: string | undefined;
  argv?: string[] | undefined;
  cwd?: string | undefined;
  env?: Record<string, string> | undefined;
}

/** How a {@link CommandBuilder} runs its command; implemented by the sandbox handle. */
export interface CommandRunner {
  run(spec: CommandSpec & { stdin?: Uint8Array | undefined }): Promise<CommandOutput>;
  spawn(spec: CommandSpec & { stdin: "piped" | "null" }): Promise<ChildProcess>;
}

type Mode = "output" | "text" | "json" | "lines";

interface BuilderState {
  command: string;
  cwd: string | undefined;
  env: Record<string, string> | undefined;
  stdin: Uint8Array | undefined;
  noThrow: boolean;
  quiet: boolean;
  mode: Mode;
}

/**
 * A command built by `` sandbox.sh`…` ``, not yet run. Modifiers return a new builder and
 * combine in any order; awaiting the builder runs the command once, with `/bin/sh -c`.
 *
 * Unless `.quiet()`, the command's stdout and stderr are copied to this process's
 * stdout and stderr when it finishes (stdout not, once `.text()`, `.json()` or `.lines()`
 * captures it). A non-zero exit rejects with a {@link CommandError} unless `.noThrow()`.
 *
 * @example
 * ```ts
 * const version = await sandbox.sh`node --version`.text(); // "v20.19.2"
 * const files = await sandbox.sh`ls ${dir}`.cwd("/srv").lines();
 * const { status } = await sandbox.sh`test -f /etc/passwd`.noThrow().quiet();
 * ```
 */
export class CommandBuilder<T = CommandOutput> implements PromiseLike<T> {
  readonly #runner: CommandRunner;
  readonly #state: BuilderState;
  #result: Promise<T> | undefined;

  /** @internal Use `sandbox.sh`. */
  constructor(runner: CommandRunner, command: string, state: Partial<BuilderState> = {}) {
    this.#runner = runner;
    this.#state = {
      command,
      cwd: undefined,
      env: undefined,
      stdin: undefined,
      noThrow: false,
      quiet: false,
      mode: "output",
      ...state,
    };
  }

  /**
   * The command line as it will be sent, with every interpolated value quoted.
   *
   * @example
   * ```ts
   * sandbox.sh`echo ${"a b"}`.command; // "echo 'a b'"
   * ```
   */
  get command(): string {
    return this.#state.command;
  }

  /**
   * Resolves with the output even when the command exits non-zero or is killed.
   *
   * @example
   * ```ts
   * const { status } = await sandbox.sh`grep -q root /etc/passwd`.noThrow();
   * if (!status.success) console.log("no root user");
   * ```
   */
  noThrow(): CommandBuilder<T> {
    return this.#with<T>({ noThrow: true });
  }

  /**
   * Copies nothing to this process's stdout and stderr.
   *
   * @example
   * ```ts
   * await sandbox.sh`apt-get update`.quiet();
   * ```
   */
  quiet(): CommandBuilder<T> {
    return this.#with<T>({ quiet: true });
  }

  /**
   * Runs the command in `path` (absolute, inside the sandbox; default `/root`).
   *
   * @example
   * ```ts
   * await sandbox.sh`npm install`.cwd("/srv/app");
   * ```
   */
  cwd(path: string): CommandBuilder<T> {
    return this.#with<T>({ cwd: path });
  }

  /**
   * Adds environment variables, over the sandbox's own; several calls merge.
   *
   * @example
   * ```ts
   * await sandbox.sh`apt-get install -y curl`.env({ DEBIAN_FRONTEND: "noninteractive" });
   * ```
   */
  env(vars: Record<string, string>): CommandBuilder<T> {
    return this.#with<T>({ env: { ...this.#state.env, ...vars } });
  }

  /**
   * Feeds `data` to the command's stdin, then closes it.
   *
   * @example
   * ```ts
   * const sorted = await sandbox.sh`sort`.stdin("b\na\n").text(); // "a\nb"
   * ```
   */
  stdin(data: string | Uint8Array): CommandBuilder<T> {
    return this.#with<T>({ stdin: typeof data === "string" ? encodeUtf8(data) : data });
  }

  /**
   * Resolves with stdout as text, without its trailing newlines.
   *
   * @example
   * ```ts
   * const kernel = await sandbox.sh`uname -r`.text();
   * ```
   */
  text(): CommandBuilder<string> {
    return this.#with<string>({ mode: "text" });
  }

  /**
   * Resolves with stdout parsed as JSON; a StrataError `invalid_output` if it is not JSON.
   *
   * @example
   * ```ts
   * const pkg = await sandbox.sh`cat package.json`.cwd("/srv/app").json<{ name: string }>();
   * ```
   */
  json<J = unknown>(): CommandBuilder<J> {
    return this.#with<J>({ mode: "json" });
  }

  /**
   * Resolves with stdout split into lines (no trailing empty line).
   *
   * @example
   * ```ts
   * for (const user of await sandbox.sh`cut -d: -f1 /etc/passwd`.lines()) console.log(user);
   * ```
   */
  lines(): CommandBuilder<string[]> {
    return this.#with<string[]>({ mode: "lines" });
  }

  /**
   * Starts the command over the streaming exec WebSocket and resolves once it runs, with
   * its stdout and stderr as web streams. `stdin: "piped"` gives a writable `child.stdin`;
   * with `.stdin(data)` the data is written and stdin closed. The output mode, `.quiet()`
   * and `.noThrow()` do not apply: read `child.status`.
   *
   * @example
   * ```ts
   * const child = await sandbox.sh`for i in 1 2 3; do echo $i; sleep 1; done`.spawn();
   * for await (const chunk of child.stdout) process.stdout.write(chunk);
   * console.log((await child.status).code);
   * ```
   */
  async spawn(options: { stdin?: "piped" | "null" } = {}): Promise<ChildProcess> {
    const s = this.#state;
    const spec = { command: s.command, cwd: s.cwd, env: s.env };
    if (s.stdin === undefined) {
      return this.#runner.spawn({ ...spec, stdin: options.stdin ?? "null" });
    }
    const child = await this.#runner.spawn({ ...spec, stdin: "piped" });
    const writer = child.stdin!.getWriter();
    // Written in the background: a large input must not wait for the reader of stdout.
    void writer
      .write(s.stdin)
      .then(() => writer.close())
      .catch(() => {});
    return child;
  }

  /**
   * Runs the command (once, however often it is awaited) and settles with the output in
   * the mode chosen by `.text()`, `.json()` or `.lines()`, or the full {@link CommandOutput}.
   *
   * @example
   * ```ts
   * const out = await sandbox.sh`echo hi`;
   * console.log(out.status.code, out.stdoutText);
   * ```
   */
  // biome-ignore lint/suspicious/noThenProperty: the builder is a thenable on purpose, like @deno/sandbox's.
  then<R1 = T, R2 = never>(
    onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    this.#result ??= this.#run();
    return this.#result.then(onfulfilled, onrejected);
  }

  /**
   * Runs the command and handles a rejection, as a promise's `catch` does.
   *
   * @example
   * ```ts
   * const out = await sandbox.sh`false`.catch((err) => String(err));
   * ```
   */
  catch<R = never>(onrejected?: ((reason: unknown) => R | PromiseLike<R>) | null): Promise<T | R> {
    return this.then(undefined, onrejected);
  }

  #with<U>(patch: Partial<BuilderState>): CommandBuilder<U> {
    return new CommandBuilder<U>(this.#runner, this.#state.command, { ...this.#state, ...patch });
  }

  async #run(): Promise<T> {
    const s = this.#state;
    const out = await this.#runner.run({
      command: s.command,
      cwd: s.cwd,
      env: s.env,
      stdin: s.stdin,
    });
    if (!s.quiet) echo(s.mode === "output" ? out.stdout : undefined, out.stderr);
    if (!out.status.success && !s.noThrow) {
      throw new CommandError({
        command: s.command,
        exitCode: out.status.signal === null ? out.status.code : null,
        signal: out.status.signal,
        stdout: out.stdoutText,
        stderr: out.stderrText,
      });
    }
    return shape(out, s) as T;
  }
}

function shape(out: CommandOutput, s: BuilderState): unknown {
  switch (s.mode) {
    case "output":
      return out;
    case "text":
      return out.stdoutText.replace(/(\r?\n)+$/, "");
    case "lines": {
      const text = out.stdoutText.replace(/\r?\n$/, "");
      return text === "" ? [] : text.split(/\r?\n/);
    }
    case "json":
      try {
        return JSON.parse(out.stdoutText);
      } catch (err) {
        const snippet = out.stdoutText.trim().slice(0, 100);
        throw new StrataError(
          "invalid_output",
          `Command ${JSON.stringify(s.command)} printed output that is not JSON: ${JSON.stringify(snippet)}`,
          { cause: err },
        );
      }
  }
}

/** Copies output to this process's streams, where there are any (not in browsers). */
function echo(stdout: Uint8Array | undefined, stderr: Uint8Array): void {
  if (typeof process === "undefined") return;
  if (stdout && stdout.byteLength > 0) process.stdout.write(stdout);
  if (stderr.byteLength > 0) process.stderr.write(stderr);
}

/** Builds the output of a finished command. */
export function commandOutput(init: {
  exitCode: number | null;
  signal: string | null;
  stdout: Uint8Array;
  stderr: Uint8Array;
  truncated: boolean;
}): CommandOutput {
  return {
    status: {
      success: init.exitCode === 0 && init.signal === null,
      code: shellCode(init.exitCode, init.signal),
      signal: init.signal,
    },
    stdout: init.stdout,
    stderr: init.stderr,
    stdoutText: utf8(init.stdout),
    stderrText: utf8(init.stderr),
    truncated: init.truncated,
  };
}
