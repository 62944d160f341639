import type { Snapshot, SnapshotDiff, SnapshotKind } from "@strata/api";
import { type ListOptions, listPagesOf, type PaginatedList } from "./paginated-list.ts";
import { diffSnapshots, type SnapshotDiffOptions, SnapshotFilesApi } from "./snapshot-files.ts";
import { type SnapshotWaitOptions, waitForSnapshot } from "./snapshot-wait.ts";
import { seg, type Transport } from "./transport.ts";

/** Options of `snapshots.list()`: the filters, then paging as in every `list()`. */
export interface SnapshotListOptions extends ListOptions {
  /** Only snapshots of volumes (`"volume"`), or of sandboxes (`"sandbox"`). */
  kind?: SnapshotKind;
  /** Only snapshots taken of this sandbox (its id). */
  sandbox?: string;
}

/** What `snapshots.update()` changes; fields left out stay as they are. */
export interface SnapshotChanges {
  /** Protected snapshots survive the retention reaper and refuse `delete()`. */
  protected?: boolean;
  /** A new expiry (a `Date` or an ISO 8601 string), or `null` to keep the snapshot forever. */
  expiresAt?: Date | string | null;
}

/**
 * `client.snapshots`: read-only, point-in-time copies of volumes and of sandboxes. Take one
 * with `client.volumes.snapshot()` or `sandbox.snapshots.create()`; start volumes from it
 * with `volumes.create({ from })` and sandboxes with `sandboxes.create({ fromSnapshot })`.
 */
export class Snapshots {
  readonly #t: Transport;
  /** Files inside snapshots, read without booting them: `list`, `stat`, `read`, `readText`. */
  readonly files: SnapshotFilesApi;

  /** @internal Use `client.snapshots`. */
  constructor(transport: Transport) {
    this.#t = transport;
    this.files = new SnapshotFilesApi(transport);
  }

  /**
   * What changed from the snapshot `base` to `to`, another snapshot or a volume (compared
   * as it is now): paths added, removed and changed, times alone never counting. Each list
   * holds at most `limit` paths (default 1000); `truncated` says more changed.
   *
   * @example
   * ```ts
   * const d = await client.snapshots.diff("app-v1", "app"); // snapshot -> live volume
   * for (const p of d.changed) console.log("M", p);
   * ```
   */
  diff(base: string, to: string, options: SnapshotDiffOptions = {}): Promise<SnapshotDiff> {
    return diffSnapshots(this.#t, base, to, options);
  }

  /**
   * Lists snapshots one page at a time, optionally only those of one `kind` or of one
   * `sandbox`; iterate the result with `for await` to walk all pages.
   *
   * @example
   * ```ts
   * for await (const s of await client.snapshots.list()) console.log(s.slug, s.kind, s.expiresAt);
   * const ofSandbox = await client.snapshots.list({ kind: "sandbox", sandbox: sandbox.id });
   * ```
   */
  list(options: SnapshotListOptions = {}): Promise<PaginatedList<Snapshot>> {
    return listPagesOf<Snapshot, Snapshot>(this.#t, "/snapshots", {
      query: {
        kind: options.kind,
        sandbox: options.sandbox,
        limit: options.limit,
        search: options.search,
      },
      cursor: options.cursor,
      signal: options.signal,
      map: (snapshot) => snapshot,
    });
  }

  /**
   * Gets a snapshot by id or slug; `null` when there is none.
   *
   * @example
   * ```ts
   * const snapshot = await client.snapshots.get("data-v1");
   * if (snapshot) console.log(snapshot.status, snapshot.flattenedSize);
   * ```
   */
  get(idOrSlug: string, options: { signal?: AbortSignal } = {}): Promise<Snapshot | null> {
    return this.#t.getOrNull<Snapshot>(`/snapshots/${seg(idOrSlug)}`, options.signal);
  }

  /**
   * Waits until a snapshot of a sandbox, answered `creating`, is `ready`, and returns it.
   * Throws a {@link SnapshotFailedError} (code `snapshot_failed`, with `failureReason`)
   * when it fails, and a {@link StrataError} with code `wait_timeout` when `timeoutMs`
   * runs out first. A snapshot that is already ready is returned at once.
   *
   * @example
   * ```ts
   * const creating = await sandbox.snapshots.create({ name: "deps-installed" });
   * const ready = await client.snapshots.waitReady(creating.id, { timeoutMs: 60_000 });
   * console.log(ready.sizeBytes);
   * ```
   */
  waitReady(idOrSlug: string, options: SnapshotWaitOptions = {}): Promise<Snapshot> {
    return waitForSnapshot(this.#t, idOrSlug, options);
  }

  /**
   * Changes whether a snapshot is protected and when it expires; returns the snapshot.
   *
   * @example
   * ```ts
   * await client.snapshots.update("nightly-0412", { protected: true, expiresAt: null });
   * await client.snapshots.update("scratch", { expiresAt: new Date(Date.now() + 3_600_000) });
   * ```
   */
  update(
    idOrSlug: string,
    changes: SnapshotChanges,
    options: { signal?: AbortSignal } = {},
  ): Promise<Snapshot> {
    const { expiresAt } = changes;
    const body = {
      protected: changes.protected,
      expiresAt: expiresAt instanceof Date ? expiresAt.toISOString() : expiresAt,
    };
    return this.#t.json<Snapshot>("PATCH", `/snapshots/${seg(idOrSlug)}`, {
      body,
      signal: options.signal,
    });
  }

  /**
   * Protects a snapshot: the retention reaper keeps it and `delete()` refuses it with
   * `snapshot_protected` until `unprotect()`. Returns the snapshot.
   *
   * @example
   * ```ts
   * await client.snapshots.protect("golden-image");
   * ```
   */
  protect(idOrSlug: string, options: { signal?: AbortSignal } = {}): Promise<Snapshot> {
    return this.update(idOrSlug, { protected: true }, options);
  }

  /**
   * Unprotects a snapshot: it can be deleted again, and the reaper deletes it once its
   * `expiresAt` has passed. Returns the snapshot.
   *
   * @example
   * ```ts
   * await client.snapshots.unprotect("golden-image");
   * await client.snapshots.delete("golden-image");
   * ```
   */
  unprotect(idOrSlug: string, options: { signal?: AbortSignal } = {}): Promise<Snapshot> {
    return this.update(idOrSlug, { protected: false }, options);
  }

  /**
   * Deletes a snapshot. Volumes and sandboxes created from it keep working. Throws
   * `snapshot_protected` while it is protected.
   *
   * @example
   * ```ts
   * await client.snapshots.delete("data-v1");
   * ```
   */
  async delete(idOrSlug: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.#t.request("DELETE", `/snapshots/${seg(idOrSlug)}`, { signal: options.signal });
  }
}
