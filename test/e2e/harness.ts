import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";

export const REPO = resolve(import.meta.dirname, "../..");
const MAIN = join(REPO, "packages/daemon/src/main.ts");

/** Whether the end-to-end suite can run here (it needs root for btrfs pools and mounts). */
export const isRoot = process.getuid?.() === 0;

export interface ApiResponse<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
}

/**
 * Starts stratad on `dataDir` with free ports (the proxy's port 0 follows the API's) and a
 * small pool; stdout and stderr are piped. A later `--listen` in `args` wins.
 */
export function spawnDaemon(dataDir: string, args: readonly string[] = []): ChildProcess {
  return spawn(
    process.execPath,
    [MAIN, "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--pool-size", "16GiB", ...args],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
}

/**
 * A real stratad child process with its own data dir (and so its own pool, prefix and
 * port). `stop()` shuts it down with SIGTERM; `crash()` kills it with SIGKILL; `start()`
 * brings it back on the same data dir. Disposing stops it and deletes the data dir.
 */
export class TestDaemon {
  readonly dataDir: string;
  readonly args: string[];
  url = "";
  /** Where its proxy to sandbox ports listens, as it announced it. */
  proxyUrl = "";
  token = "";
  /** Every JSON log line the daemon printed, across restarts. */
  readonly logs: Record<string, unknown>[] = [];
  #child: ChildProcess | undefined;
  #exited: Promise<number | null> = Promise.resolve(null);

  private constructor(dataDir: string, args: string[]) {
    this.dataDir = dataDir;
    this.args = args;
  }

  static async start(args: string[] = []): Promise<TestDaemon> {
    const dataDir = await mkdtemp("/var/tmp/strata-e2e-");
    const d = new TestDaemon(dataDir, args);
    await d.start();
    return d;
  }

  /** The daemon's process id, while it runs. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** The pool folder holding this daemon's layers. */
  get poolRoot(): string {
    return join(this.dataDir, "pool", "strata");
  }

  async start(extraArgs: string[] = []): Promise<void> {
    const child = spawnDaemon(this.dataDir, [...this.args, ...extraArgs]);
    this.#child = child;
    this.#exited = once(child, "exit").then(([code]) => code as number | null);
    createInterface({ input: child.stdout! }).on("line", (line) => {
      try {
        this.logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {}
    });
    const stderr: string[] = [];
    let url = "";
    const ready = new Promise<string>((resolveUrl, reject) => {
      createInterface({ input: child.stderr! }).on("line", (line) => {
        stderr.push(line);
        const m = /^stratad listening on (\S+)/.exec(line);
        if (m) url = m[1]!;
        // The last of the lines stratad prints once it is ready.
        const proxy = /^sandbox ports proxied on (\S+)/.exec(line);
        if (proxy) {
          this.proxyUrl = proxy[1]!;
          resolveUrl(url);
        }
      });
      child.once("exit", (code) =>
        reject(
          new Error(
            `stratad exited (${code}) before it was ready:\n${stderr.join("\n")}\n${JSON.stringify(this.logs.slice(-5))}`,
          ),
        ),
      );
    });
    this.url = await ready;
    this.token = (await readFile(join(this.dataDir, "admin.token"), "utf8")).trim();
  }

  /** SIGTERM, and the exit code. */
  async stop(): Promise<number | null> {
    this.#child?.kill("SIGTERM");
    return this.#exited;
  }

  /** SIGKILL: a crash, leaving mounts and state as they are. */
  async crash(): Promise<void> {
    this.#child?.kill("SIGKILL");
    await this.#exited;
  }

  async api<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    token: string | null = this.token,
  ): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = {};
    if (token !== null) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    const res = await fetch(new URL(path, this.url), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return {
      status: res.status,
      headers: res.headers,
      body: (text ? JSON.parse(text) : null) as T,
    };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
    // A crashed daemon leaves its pool mounted; the next start would reuse it, but the test is over.
    const { isMountPoint } = await import("../../packages/daemon/src/lib/mounts.ts");
    const mount = join(this.dataDir, "pool");
    if (await isMountPoint(mount)) {
      const umount = spawn("umount", [mount]);
      await once(umount, "exit");
    }
    await rm(this.dataDir, { recursive: true, force: true });
  }
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline)
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
