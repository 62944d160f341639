import type { Snapshot, SnapshotDiff } from "@strata/api";
import { type ListOptions, listPages, type PaginatedList } from "./paginated-list.ts";
import { diffSnapshots, type SnapshotDiffOptions, SnapshotFilesApi } from "./snapshot-files.ts";
import { seg, type Transport } from "./transport.ts";

/**
 * `client.snapshots`: read-only, point-in-time copies of volumes. Take one with
 * `client.volumes.snapshot()`; start volumes from it with `volumes.create({ from })`.
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
   * Lists snapshots one page at a time; iterate the result with
   * `for await` to walk all pages.
   *
   * @example
   * ```ts
   * for await (const s of await client.snapshots.list()) console.log(s.slug, s.volume?.slug);
   * ```
   */
  list(options: ListOptions = {}): Promise<PaginatedList<Snapshot>> {
    return listPages<Snapshot>(this.#t, "/snapshots", options);
  }

  /**
   * Gets a snapshot by id or slug; `null` when there is none.
   *
   * @example
   * ```ts
   * const snapshot = await client.snapshots.get("data-v1");
   * if (snapshot) console.log(snapshot.flattenedSize);
   * ```
   */
  get(idOrSlug: string, options: { signal?: AbortSignal } = {}): Promise<Snapshot | null> {
    return this.#t.getOrNull<Snapshot>(`/snapshots/${seg(idOrSlug)}`, options.signal);
  }

  /**
   * Deletes a snapshot. Volumes created from it keep working.
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
