import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdir, open, readFile, rm, rmdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import type {
  Event,
  ExecRequest,
  ExecResult,
  Sandbox,
  SandboxCreate,
  Snapshot,
  Volume,
  VolumeCreate,
} from "@strata/api";
import { derivePrefix } from "../packages/daemon/src/config.ts";
import { isMountPoint, run } from "./host.ts";
import { parseFilesystemUsage, parseListenUrl, parseNextLink } from "./parse.ts";

const DAEMON_MAIN = new URL("../packages/daemon/src/main.ts", import.meta.url).pathname;

/** A stratad child process with its own data dir and a loop-mounted pool image in it. */
export interface Stratad {
  url: string;
  api: Api;
  dataDir: string;
  /** The daemon's process id (for its memory use). */
  pid: number;
  /** Names the daemon's host resources: cgroups `/<prefix>/<sandbox id>`, netns, veths. */
  prefix: string;
  /** The pool's btrfs mount (`<data-dir>/pool`). */
  poolMount: string;
  /** Where the files of a writable layer (a volume) are on the host. */
  layerPath(volumeId: string): string;
  /** SIGTERM, wait for exit (SIGKILL after `graceMs`), and unmount the pool if it is still mounted. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts `stratad --listen 127.0.0.1:0` (so the proxy takes a free port too) on `dataDir` and resolves once it announces its URL.
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
      pid: child.pid!,
      prefix: derivePrefix(resolve(options.dataDir)),
      poolMount,
      layerPath: (id) => join(poolMount, "strata", "writable", id),
      stop,
    };
  } catch (err) {
    await stop(30_000);
    throw err;
  }
}

/** What a part of the benchmark gets from {@link withStratad} besides the daemon. */
export interface DaemonRun {
  /** Warnings and errors the daemon logged, filled in once it has stopped. */
  problems: string[];
}

/**
 * Starts a stratad on `<dir>/data` (log in `<dir>/stratad.log`), runs `fn` with it, then
 * stops it (SIGTERM to its pid), collects the warnings and errors it logged into
 * `run.problems`, and removes `dir`, unless its pool is still mounted.
 */
export async function withStratad<T>(
  options: {
    dir: string;
    extraArgs?: readonly string[];
    log: (msg: string) => void;
    run: DaemonRun;
  },
  fn: (d: Stratad) => Promise<T>,
): Promise<T> {
  // 0711: the sandboxes' root (uid 100000) must be able to pass through to the pool.
  await mkdir(options.dir, { recursive: true, mode: 0o711 });
  const logFile = join(options.dir, "stratad.log");
  let d: Stratad | undefined;
  try {
    options.log(`Starting stratad on ${options.dir}/data`);
    d = await startStratad({
      dataDir: join(options.dir, "data"),
      logFile,
      ...(options.extraArgs ? { extraArgs: options.extraArgs } : {}),
    });
    options.log(`stratad (pid ${d.pid}, prefix ${d.prefix}) listening on ${d.url}`);
    return await fn(d);
  } finally {
    if (d) {
      options.log(`Stopping stratad (pid ${d.pid})`);
      await d.stop().catch((e: unknown) => {
        process.stderr.write(`bench: stopping stratad: ${String(e)}\n`);
      });
      // stratad leaves its (by then empty) crun state folders in /run/<prefix>; rmdir keeps
      // anything that is not empty for a look.
      const state = join("/run", d.prefix);
      for (const dir of [join(state, "bundles"), join(state, "crun"), state])
        await rmdir(dir).catch(() => {});
    }
    options.run.problems.push(...(await daemonProblems(logFile)));
    const pool = join(options.dir, "data", "pool");
    if (await isMountPoint(pool)) {
      process.stderr.write(`bench: ${pool} is still mounted; leaving ${options.dir} in place\n`);
    } else {
      await rm(options.dir, { recursive: true, force: true });
    }
  }
}

/** Warnings and errors in stratad's JSON log (pino levels 40 and up), as one line each. */
export async function daemonProblems(logFile: string): Promise<string[]> {
  const text = await readFile(logFile, "utf8").catch(() => "");
  const found: string[] = [];
  for (const line of text.split("\n")) {
    try {
      const entry = JSON.parse(line) as {
        level?: number;
        msg?: string;
        err?: { message?: string };
      };
      if ((entry.level ?? 0) >= 40)
        found.push(
          `${entry.level === 40 ? "warn" : "error"}: ${entry.msg ?? ""}${entry.err?.message ? ` (${entry.err.message})` : ""}`,
        );
    } catch {}
  }
  return found;
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

  /** Sends a request; a non-2xx answer throws {@link ApiCallError}. */
  async #send(
    method: string,
    urlOrPath: string,
    body?: { json: unknown } | { raw: Uint8Array<ArrayBuffer> },
  ): Promise<Response> {
    const url = urlOrPath.startsWith("http") ? urlOrPath : `${this.#base}/v1${urlOrPath}`;
    const res = await fetch(url, {
      method,
      headers: {
        authorization: `Bearer ${this.#token}`,
        accept: "application/json",
        ...(body === undefined
          ? {}
          : { "content-type": "json" in body ? "application/json" : "application/octet-stream" }),
      },
      body: body === undefined ? null : "json" in body ? JSON.stringify(body.json) : body.raw,
    });
    if (res.ok) return res;
    const text = await res.text();
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

  async #request<T>(
    method: string,
    urlOrPath: string,
    body?: unknown,
  ): Promise<{ data: T; headers: Headers }> {
    const res = await this.#send(
      method,
      urlOrPath,
      body === undefined ? undefined : { json: body },
    );
    const text = await res.text();
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

  /** `POST /v1/sandboxes/{id}/snapshots`: answers at once with a creating snapshot. */
  async snapshotSandbox(id: string, name: string): Promise<Snapshot> {
    const path = `/sandboxes/${encodeURIComponent(id)}/snapshots`;
    return (await this.#request<Snapshot>("POST", path, { name })).data;
  }

  async getSnapshot(idOrSlug: string): Promise<Snapshot> {
    return (await this.#request<Snapshot>("GET", `/snapshots/${encodeURIComponent(idOrSlug)}`))
      .data;
  }

  async deleteSnapshot(idOrSlug: string): Promise<void> {
    await this.#request("DELETE", `/snapshots/${encodeURIComponent(idOrSlug)}`);
  }

  /** A sandbox's events of one type, oldest first (first page of 500). */
  async sandboxEvents(id: string, type: string): Promise<Event[]> {
    const path = `/sandboxes/${encodeURIComponent(id)}/events?type=${type}&limit=500`;
    return (await this.#request<Event[]>("GET", path)).data;
  }

  /** `POST /v1/sandboxes`: answers once commands can run in it. */
  async createSandbox(input: SandboxCreate): Promise<Sandbox> {
    return (await this.#request<Sandbox>("POST", "/sandboxes", input)).data;
  }

  /** `DELETE /v1/sandboxes/{id}`: answers once nothing of it runs (host state goes right after). */
  async deleteSandbox(id: string): Promise<void> {
    await this.#request("DELETE", `/sandboxes/${encodeURIComponent(id)}`);
  }

  /** `POST /v1/sandboxes/{id}/exec`: runs a command to completion. */
  async exec(id: string, input: ExecRequest): Promise<ExecResult> {
    const path = `/sandboxes/${encodeURIComponent(id)}/exec`;
    return (await this.#request<ExecResult>("POST", path, input)).data;
  }

  /** `PUT /v1/sandboxes/{id}/files/content`: writes a file from raw bytes. */
  async writeFile(id: string, path: string, data: Uint8Array<ArrayBuffer>): Promise<void> {
    const url = `/sandboxes/${encodeURIComponent(id)}/files/content?path=${encodeURIComponent(path)}`;
    await (await this.#send("PUT", url, { raw: data })).arrayBuffer();
  }

  /** `GET /v1/sandboxes/{id}/files/content`: a file's raw bytes. */
  async readFile(id: string, path: string): Promise<Uint8Array> {
    const url = `/sandboxes/${encodeURIComponent(id)}/files/content?path=${encodeURIComponent(path)}`;
    return new Uint8Array(await (await this.#send("GET", url)).arrayBuffer());
  }
}

/** The pool's space figures after a `btrfs filesystem sync` (which commits pending accounting). */
export async function poolUsage(mount: string) {
  await run(["btrfs", "filesystem", "sync", mount]);
  return parseFilesystemUsage(await run(["btrfs", "filesystem", "usage", "-b", mount]));
}
