import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdirSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import type { Socket } from "node:net";
import { join } from "node:path";
import { run } from "../lib/exec.ts";
import { hasExited, type InitProcess, parseCrunStatus, parseProcStat } from "./proc-stat.ts";
import { SandboxStartError } from "./start-error.ts";

/** Pure argv builders for crun; `root` is this daemon's crun state folder. */
export const crunArgv = {
  run: (root: string, bundle: string, id: string) => [
    "crun",
    "--root",
    root,
    "run",
    "--detach",
    "--preserve-fds",
    "1",
    "--bundle",
    bundle,
    id,
  ],
  kill: (root: string, id: string, signal: string) => ["crun", "--root", root, "kill", id, signal],
  delete: (root: string, id: string) => ["crun", "--root", root, "delete", "--force", id],
  list: (root: string) => ["crun", "--root", root, "list", "--quiet"],
  pause: (root: string, id: string) => ["crun", "--root", root, "pause", id],
  resume: (root: string, id: string) => ["crun", "--root", root, "resume", id],
} as const;

/**
 * Starts and removes containers with crun. A container's PID 1 is the agent, which gets one
 * end of a unix socketpair as fd 3 (`--preserve-fds 1`); the other end, returned by
 * `start`, is the daemon's only channel into the sandbox. crun itself exits once the
 * container runs (`--detach`), so no runtime process stays behind per sandbox.
 */
export class CrunRuntime {
  readonly #root: string;
  readonly #bundles: string;

  constructor(options: { stateDir: string }) {
    this.#root = join(options.stateDir, "crun");
    this.#bundles = join(options.stateDir, "bundles");
  }

  bundleDir(id: string): string {
    return join(this.#bundles, id);
  }

  /** Writes the bundle's extra files and config.json. */
  async writeBundle(
    id: string,
    config: Record<string, unknown>,
    files: Record<string, string>,
  ): Promise<string> {
    const dir = this.bundleDir(id);
    await mkdir(dir, { recursive: true, mode: 0o711 });
    for (const [name, content] of Object.entries(files))
      await writeFile(join(dir, name), content, { mode: 0o644 });
    await writeFile(join(dir, "config.json"), JSON.stringify(config));
    return dir;
  }

  /**
   * Starts the container. Returns the daemon's end of the agent socket at once, with a
   * promise that settles when crun has exited (0: the container runs; otherwise it rejects
   * with a {@link SandboxStartError} holding crun's stderr). Read the socket
   * before awaiting `started`: when a child exits, Node resumes its unread stdio streams
   * and whatever was buffered on them (the agent's READY) would be dropped.
   */
  start(id: string): { socket: Socket; started: Promise<void> } {
    mkdirSync(this.#root, { recursive: true, mode: 0o700 });
    const argv = crunArgv.run(this.#root, this.bundleDir(id), id);
    const child: ChildProcess = spawn(argv[0]!, argv.slice(1), {
      stdio: ["ignore", "ignore", "pipe", "pipe"],
      // Out of the daemon's process group, as run() does: a Ctrl-C to stratad's terminal
      // must reach only the daemon, which then ends its sandboxes in order.
      detached: true,
    });
    const socket = child.stdio[3] as Socket;
    let stderr = "";
    child.stderr?.on("data", (b: Buffer) => {
      stderr += b.toString();
    });
    const started = (async () => {
      const [code] = (await once(child, "exit").catch((err: Error) => {
        socket.destroy();
        throw new SandboxStartError(id, `crun could not be run: ${err.message}`, { cause: err });
      })) as [number | null];
      if (code !== 0) {
        socket.destroy();
        const said = stderr.trim();
        throw new SandboxStartError(
          id,
          `crun exited with ${code ?? "a signal"}${said ? `: ${said}` : " and said nothing"}`,
        );
      }
    })();
    return { socket, started };
  }

  /** The seccomp program crun compiled for a running container (in its root-only state). */
  async compiledSeccomp(id: string): Promise<Buffer | undefined> {
    const bpf = await readFile(join(this.#root, id, "seccomp.bpf")).catch(() => undefined);
    // A BPF program is a whole number of 8-byte instructions.
    return bpf && bpf.length > 0 && bpf.length % 8 === 0 ? bpf : undefined;
  }

  /** The container's init process, from crun's state (undefined once crun forgot it). */
  async init(id: string): Promise<InitProcess | undefined> {
    const text = await readFile(join(this.#root, id, "status"), "utf8").catch(() => "");
    return parseCrunStatus(text);
  }

  /**
   * Waits until `init` has exited (a zombie, or reaped), true, or `timeoutMs` passed,
   * false. The kernel offers no event for another process's exit here (no pidfd in Node),
   * so it polls /proc every millisecond; an init whose agent has closed its socket is in
   * its exit path and usually done at the first look.
   */
  async waitExited(init: InitProcess, timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const text = await readFile(`/proc/${init.pid}/stat`, "utf8").catch(() => undefined);
      if (hasExited(init, text === undefined ? undefined : parseProcStat(text))) return true;
      if (performance.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 1));
    }
  }

  async kill(id: string, signal = "KILL"): Promise<void> {
    await run(crunArgv.kill(this.#root, id, signal)).catch(() => {});
  }

  /** Removes the container (killing what is left) and its bundle. Idempotent. */
  async remove(id: string): Promise<void> {
    await run(crunArgv.delete(this.#root, id)).catch((err: unknown) => {
      if (!/does not exist|No such file/i.test(String(err))) throw err;
    });
    await rm(this.bundleDir(id), { recursive: true, force: true });
  }

  async pause(id: string): Promise<void> {
    await run(crunArgv.pause(this.#root, id));
  }

  async resume(id: string): Promise<void> {
    await run(crunArgv.resume(this.#root, id));
  }

  /** Ids of the containers crun knows in this daemon's state folder. */
  async list(): Promise<string[]> {
    const { stdout } = await run(crunArgv.list(this.#root)).catch(() => ({ stdout: "" }));
    return stdout
      .split("\n")
      .map((l) => l.trim())
      .filter(Boolean);
  }
}
