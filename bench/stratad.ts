import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { open, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Snapshot, Volume, VolumeCreate } from "@strata/api";
import { isMountPoint, run } from "./host.ts";
import { parseFilesystemUsage, parseListenUrl, parseNextLink } from "./parse.ts";

const DAEMON_MAIN = new URL("../packages/daemon/src/main.ts", import.meta.url).pathname;

/** A stratad child process with its own data dir and a loop-mounted pool image in it. */
export interface Stratad {
  url: string;
  api: Api;
  dataDir: string;
  /** The pool's btrfs mount (`<data-dir>/pool`). */
  poolMount: string;
  /** Where the files of a writable layer (a volume) are on the host. */
  layerPath(volumeId: string): string;
  /** SIGTERM, wait for exit (SIGKILL after `graceMs`), and unmount the pool if it is still mounted. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts `stratad --listen 127.0.0.1:0` on `dataDir` and resolves once it announces its URL.
 * Its JSON log goes to `logFile`. The child gets its own process group, so a Ctrl-C reaches
 * only the benchmark, which then stops the daemon in order.
 */
export async function startStratad(options: {
  dataDir: string;
  logFile: string;
  extraArgs?: readonly string[];
}): Promise<Stratad> {
  const log = await open(options.logFile, "a");
  const child = spawn(
    process.execPath,
    [
      DAEMON_MAIN,
      "--data-dir",
      options.dataDir,
      "--listen",
      "127.0.0.1:0",
      ...(options.extraArgs ?? []),
    ],
    { stdio: ["ignore", log.fd, "pipe"], detached: true },
  );
  await log.close();
  const exited = once(child, "exit").then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as string | null,
  }));
  let stderr = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (s: string) => {
    stderr += s;
  });

  const poolMount = join(options.dataDir, "pool");
  const stop = async (graceMs = 120_000) => {
    await stopChild(child, exited, graceMs);
    // stratad unmounts its pool on a clean shutdown; after a crash or SIGKILL it cannot.
    if (await isMountPoint(poolMount)) await run(["umount", poolMount]);
  };
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`stratad did not announce its URL within 60 s; stderr: ${stderr}`)),
        60_000,
      );
      const onData = () => {
        const found = parseListenUrl(stderr);
        if (found) {
          clearTimeout(timer);
          child.stderr?.off("data", onData);
          resolve(found);
        }
      };
      child.stderr?.on("data", onData);
      void exited.then(async ({ code, signal }) => {
        clearTimeout(timer);
        const logTail = (await readFile(options.logFile, "utf8").catch(() => ""))
          .trim()
          .split("\n")
          .slice(-5)
          .join("\n");
        reject(
          new Error(
            `stratad exited before listening (code ${code}, signal ${signal}):\n${stderr}${logTail}`,
          ),
        );
      });
    });
    const token = (await readFile(join(options.dataDir, "admin.token"), "utf8")).trim();
    return {
      url,
      api: new Api(url, token),
      dataDir: options.dataDir,
      poolMount,
      layerPath: (id) => join(poolMount, "strata", "writable", id),
      stop,
    };
  } catch (err) {
    await stop(30_000);
    throw err;
  }
}

async function stopChild(
  child: ChildProcess,
  exited: Promise<unknown>,
  graceMs: number,
): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  process.kill(child.pid, "SIGTERM");
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), graceMs);
  });
  const outcome = await Promise.race([exited, timeout]);
  clearTimeout(timer);
  if (outcome === "timeout") {
    process.stderr.write(
      `stratad (pid ${child.pid}) ignored SIGTERM for ${graceMs} ms; killing it\n`,
    );
    process.kill(child.pid, "SIGKILL");
    await exited;
  }
}

/** A failed API call: the HTTP status and the error body's code and message. */
export class ApiCallError extends Error {
  override name = "ApiCallError";
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** The few REST calls the benchmark makes, over `fetch`, with the admin token. */
export class Api {
  readonly #base: string;
  readonly #token: string;

  constructor(base: string, token: string) {
    this.#base = base;
    this.#token = token;
  }

  async #request<T>(
    method: string,
    urlOrPath: string,
    body?: unknown,
  ): Promise<{ data: T; headers: Headers }> {
    const url = urlOrPath.startsWith("http") ? urlOrPath : `${this.#base}/v1${urlOrPath}`;
    const res = await fetch(url, {
      method,
      headers: {
        authorization: `Bearer ${this.#token}`,
        accept: "application/json",
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? null : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) {
      let code = "unknown";
      let message = text;
      try {
        ({ code, message } = JSON.parse(text) as { code: string; message: string });
      } catch {}
      throw new ApiCallError(
        res.status,
        code,
        `${method} ${url} → ${res.status} ${code}: ${message}`,
      );
    }
    return { data: (text ? JSON.parse(text) : undefined) as T, headers: res.headers };
  }

  async createVolume(input: VolumeCreate): Promise<Volume> {
    return (await this.#request<Volume>("POST", "/volumes", input)).data;
  }

  async getVolume(idOrSlug: string): Promise<Volume> {
    return (await this.#request<Volume>("GET", `/volumes/${encodeURIComponent(idOrSlug)}`)).data;
  }

  async snapshotVolume(volume: string, slug: string): Promise<Snapshot> {
    const path = `/volumes/${encodeURIComponent(volume)}/snapshots`;
    return (await this.#request<Snapshot>("POST", path, { slug })).data;
  }

  /** Every snapshot whose id or slug contains `search`, following the `Link` pages. */
  async listSnapshots(search: string): Promise<Snapshot[]> {
    const all: Snapshot[] = [];
    let next: string | undefined = `/snapshots?limit=200&search=${encodeURIComponent(search)}`;
    while (next) {
      const { data, headers }: { data: Snapshot[]; headers: Headers } = await this.#request<
        Snapshot[]
      >("GET", next);
      all.push(...data);
      next = parseNextLink(headers.get("link"));
    }
    return all;
  }
}

/** The pool's space figures after a `btrfs filesystem sync` (which commits pending accounting). */
export async function poolUsage(mount: string) {
  await run(["btrfs", "filesystem", "sync", mount]);
  return parseFilesystemUsage(await run(["btrfs", "filesystem", "usage", "-b", mount]));
}
