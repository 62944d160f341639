import type { Sandbox as SandboxInfo, SandboxStatus } from "@strata/api";
import { listPagesOf, type PaginatedList } from "./paginated-list.ts";
import { createSandbox, Sandbox, type SandboxOptions } from "./sandbox.ts";
import { seg, type Transport } from "./transport.ts";

/** Options of `sandboxes.list()`. */
export interface SandboxListOptions {
  /** Only sandboxes carrying every one of these labels. */
  labels?: Record<string, string>;
  /** Only sandboxes in this status. */
  status?: SandboxStatus;
  /** Items per page, 1–200 (daemon default 50). */
  limit?: number;
  /** Start at this cursor (from a previous page's `nextCursor`). */
  cursor?: string;
  signal?: AbortSignal;
}

/** `client.sandboxes`: create, find and list sandboxes. */
export class Sandboxes {
  readonly #t: Transport;

  /** @internal Use `client.sandboxes`. */
  constructor(transport: Transport) {
    this.#t = transport;
  }

  /**
   * Creates a sandbox and resolves once commands can run in it. The handle owns the
   * sandbox: disposing it (`await using`) kills it. The first sandbox from
   * `builtin:debian-13` waits for the image's one-time build.
   *
   * `fromSnapshot` restores a snapshot (of a sandbox: with its template, memory and cpus);
   * `persistent` keeps the root across `stop()` and `start()`; `snapshotMode: "automatic"`
   * with a cron `snapshotFrequency` (and optionally `snapshotKeep`) takes snapshots on a
   * schedule.
   *
   * @example
   * ```ts
   * await using sandbox = await client.sandboxes.create({
   *   root: "my-snapshot",
   *   volumes: { "/data": "my-dataset" },
   *   labels: { job: "nightly" },
   *   timeout: "30m",
   * });
   *
   * const dev = await client.sandboxes.create({
   *   fromSnapshot: "deps-installed",
   *   persistent: true,
   *   persistentDiskGB: 20,
   *   snapshotMode: "automatic",
   *   snapshotFrequency: "0 * * * *", // hourly
   *   snapshotKeep: 24,
   * });
   * ```
   */
  create(options: SandboxOptions = {}): Promise<Sandbox> {
    return createSandbox(this.#t, options);
  }

  /**
   * Lists sandboxes, oldest first, one page at a time; iterate the result with
   * `for await` to walk all pages. The handles do not kill on dispose.
   *
   * @example
   * ```ts
   * for await (const sandbox of await client.sandboxes.list({ labels: { job: "nightly" }, status: "ready" })) {
   *   await sandbox.kill();
   * }
   * ```
   */
  list(options: SandboxListOptions = {}): Promise<PaginatedList<Sandbox>> {
    const label = Object.entries(options.labels ?? {}).map(([k, v]) => `${k}=${v}`);
    return listPagesOf<SandboxInfo, Sandbox>(this.#t, "/sandboxes", {
      query: { status: options.status, label, limit: options.limit },
      cursor: options.cursor,
      signal: options.signal,
      map: (info) => new Sandbox(this.#t, info, { owned: false }),
    });
  }

  /**
   * Gets a handle on an existing sandbox, running or stopped; `null` when there is none.
   * Disposing this handle leaves the sandbox running.
   *
   * @example
   * ```ts
   * const sandbox = await client.sandboxes.get("sbx_0123456789abcdefghij");
   * if (sandbox?.status === "ready") await sandbox.sh`uptime`;
   * ```
   */
  async get(id: string, options: { signal?: AbortSignal } = {}): Promise<Sandbox | null> {
    const info = await this.#t.getOrNull<SandboxInfo>(`/sandboxes/${seg(id)}`, options.signal);
    return info ? new Sandbox(this.#t, info, { owned: false }) : null;
  }
}
