import type { DiffSide, SnapshotDiff, SnapshotDiffQuery } from "@strata/api";
import type { SnapshotRecord } from "../db/records.ts";
import type { Store } from "../db/store.ts";
import { q, StrataError } from "../errors.ts";
import { newId } from "../lib/ids.ts";
import type { KeyedLock } from "../lib/keyed-lock.ts";
import type { Logger } from "../lib/logger.ts";
import type { StorageDriver } from "../storage/driver.ts";
import type { Quiesce } from "./quiesce.ts";
import { requireVolumeReady, snapshotNotFound } from "./refusals.ts";
import { storageStep } from "./storage-errors.ts";

export interface SnapshotDiffDeps {
  store: Store;
  driver: StorageDriver;
  locks: KeyedLock;
  log: Logger;
  /** Holds a volume's writes still for the instant of its copy. */
  quiesce: Pick<Quiesce, "volume">;
}

/**
 * What changed between a snapshot and another snapshot or a volume, from the storage
 * driver's `diff()` (btrfs: an incremental `send --no-data`, O(changes)). A volume is
 * compared through a temporary read-only snapshot of it, always removed afterwards (and
 * by the reconciler, as a layer no record owns, should the daemon die first).
 */
export class SnapshotDiffService {
  readonly #d: SnapshotDiffDeps;
  constructor(deps: SnapshotDiffDeps) {
    this.#d = deps;
  }

  async diff(orgId: string, idOrSlug: string, query: SnapshotDiffQuery): Promise<SnapshotDiff> {
    const d = this.#d;
    const base = this.#readySnapshot(orgId, idOrSlug, idOrSlug);
    const other = d.store.snapshots.find(orgId, query.to);
    const volume = other ? undefined : d.store.volumes.find(orgId, query.to);
    if (!other && !volume) {
      throw new StrataError(
        "diff_target_not_found",
        `Cannot compare snapshot ${q(base.slug)} with ${q(query.to)}: no snapshot or volume has that id or slug`,
      );
    }
    const region = other?.region ?? volume!.region;
    if (region !== base.region) {
      throw new StrataError(
        "region_mismatch",
        `Cannot compare snapshot ${q(base.slug)} (region ${q(base.region)}) with ${q(query.to)} (region ${q(region)})`,
      );
    }
    await using stack = new AsyncDisposableStack();
    let target: DiffSide;
    let layer: string;
    if (volume) {
      // The volume's lock only while its copy is taken, and never while holding a
      // snapshot's: restore() takes volume then snapshot, so the other order could deadlock.
      layer = newId("dif");
      target = { kind: "volume", id: volume.id, slug: volume.slug };
      using _volume = await d.locks.acquire(volume.id);
      const row = d.store.volumes.byId(volume.id);
      if (!row || row.deletedAt !== null)
        throw new StrataError(
          "diff_target_not_found",
          `Volume ${q(query.to)} was deleted meanwhile`,
        );
      requireVolumeReady(row, "compare with");
      {
        await using _still = await d.quiesce.volume(volume.id);
        await storageStep(`Cannot compare with volume ${q(row.slug)}`, () =>
          d.driver.snapshot(volume.id, layer),
        );
      }
      stack.defer(() =>
        d.driver.remove(layer).catch((err: unknown) => {
          d.log.error({ err, layer }, "Removing a diff's temporary snapshot failed");
        }),
      );
    } else {
      target = { kind: "snapshot", id: other!.id, slug: other!.slug };
      layer = other!.id;
    }
    // Held so that neither snapshot is deleted under the diff; taken in id order, so two
    // diffs of the same pair in opposite directions cannot deadlock.
    const held = [...new Set([base.id, ...(other ? [other.id] : [])])].sort();
    for (const id of held) stack.use(await d.locks.acquire(id));
    this.#readySnapshot(orgId, base.id, idOrSlug);
    if (other) this.#readySnapshot(orgId, other.id, query.to);
    const changes = await d.driver.diff(base.id, layer, { limit: query.limit });
    return { base: { kind: "snapshot", id: base.id, slug: base.slug }, target, ...changes };
  }

  #readySnapshot(orgId: string, idOrSlug: string, shown: string): SnapshotRecord {
    const s = this.#d.store.snapshots.find(orgId, idOrSlug);
    if (!s) throw snapshotNotFound(shown);
    if (s.status !== "ready") {
      throw new StrataError(
        "snapshot_not_ready",
        `Cannot compare snapshot ${q(s.slug)}: it is ${s.status}`,
      );
    }
    return s;
  }
}
