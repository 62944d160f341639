import type { DatabaseSync } from "node:sqlite";
import type { ListQuery, Snapshot, SnapshotCreate } from "@strata/api";
import { transaction } from "../db/database.ts";
import type { Page } from "../db/page.ts";
import type { SlugsRepo } from "../db/slugs-repo.ts";
import type { SnapshotRow, SnapshotsRepo } from "../db/snapshots-repo.ts";
import type { VolumesRepo } from "../db/volumes-repo.ts";
import { q, StrataError } from "../errors.ts";
import { newId } from "../lib/ids.ts";
import type { KeyedLock } from "../lib/keyed-lock.ts";
import type { Logger } from "../lib/logger.ts";
import type { StorageDriver } from "../storage/driver.ts";
import { claimSlug } from "./slugs.ts";
import { storageStep } from "./storage-errors.ts";
import { validateSlug } from "./validate.ts";
import { snapshotView } from "./views.ts";

export interface SnapshotServiceDeps {
  db: DatabaseSync;
  snapshots: SnapshotsRepo;
  volumes: VolumesRepo;
  slugs: SlugsRepo;
  driver: StorageDriver;
  locks: KeyedLock;
  log: Logger;
  /**
   * Holds writes to a volume still for the instant of a snapshot (the sandbox runtime
   * freezes the cgroup of the sandbox using it); resolves with the thaw. Absent: no-op.
   */
  quiesce?: (volumeId: string) => Promise<AsyncDisposable>;
}

/** Read-only snapshots of volumes, taken in O(1) and usable as the base of any number of volumes. */
export class SnapshotService {
  readonly #d: SnapshotServiceDeps;

  constructor(deps: SnapshotServiceDeps) {
    this.#d = deps;
  }

  /** Snapshots a volume. Works while the volume is in use: the volume is held still only for the copy. */
  async createFromVolume(
    orgId: string,
    volumeIdOrSlug: string,
    input: SnapshotCreate,
  ): Promise<Snapshot> {
    const d = this.#d;
    validateSlug(input.slug);
    const volume = d.volumes.find(orgId, volumeIdOrSlug);
    if (!volume)
      throw new StrataError(
        "volume_not_found",
        `Cannot snapshot volume ${q(volumeIdOrSlug)}: no volume has that id or slug`,
      );
    using _lock = await d.locks.acquire(volume.id);
    const current = d.volumes.byId(volume.id);
    if (!current || current.deleted_at !== null) {
      throw new StrataError(
        "volume_not_found",
        `Cannot snapshot volume ${q(volumeIdOrSlug)}: it was deleted meanwhile`,
      );
    }
    if (current.status !== "ready") {
      throw new StrataError(
        "volume_not_ready",
        `Cannot snapshot volume ${q(current.slug)}: it is ${current.status}`,
      );
    }
    const row: SnapshotRow = {
      id: newId("snp"),
      org_id: orgId,
      slug: input.slug,
      region: current.region,
      status: "creating",
      failure_reason: null,
      volume_id: current.id,
      volume_slug: current.slug,
      bootable: current.bootable,
      created_at: new Date().toISOString(),
    };
    await using stack = new AsyncDisposableStack();
    transaction(d.db, () => {
      claimSlug(d.slugs, orgId, row.slug, row.id, "snapshot");
      d.snapshots.insert(row);
    });
    stack.defer(() => {
      transaction(d.db, () => {
        d.slugs.release(row.id);
        d.snapshots.remove(row.id);
      });
    });
    {
      await using _still = d.quiesce ? await d.quiesce(current.id) : undefined;
      await storageStep(`Cannot snapshot volume ${q(current.slug)}`, () =>
        d.driver.snapshot(current.id, row.id),
      );
    }
    stack.defer(() => d.driver.remove(row.id));
    d.snapshots.setStatus(row.id, "ready");
    stack.move();
    d.log.info(
      { snapshot: row.id, volume: current.id },
      `Snapshot ${row.slug} of volume ${current.slug} is ready`,
    );
    return this.get(orgId, row.id);
  }

  async get(orgId: string, idOrSlug: string): Promise<Snapshot> {
    const row = this.#find(orgId, idOrSlug);
    const usage = (await this.#d.driver.usage()).get(row.id);
    return snapshotView(row, usage);
  }

  async list(orgId: string, query: ListQuery): Promise<Page<Snapshot>> {
    const page = this.#d.snapshots.list(orgId, query);
    const usage = page.items.length ? await this.#d.driver.usage() : new Map();
    return {
      items: page.items.map((r) => snapshotView(r, usage.get(r.id))),
      nextCursor: page.nextCursor,
    };
  }

  /** Deletes a snapshot at once. Volumes made from it are independent copies and keep working. */
  async delete(orgId: string, idOrSlug: string): Promise<void> {
    const d = this.#d;
    const found = this.#find(orgId, idOrSlug);
    using _lock = await d.locks.acquire(found.id);
    transaction(d.db, () => {
      d.slugs.release(found.id);
      d.snapshots.remove(found.id);
    });
    await d.driver.remove(found.id);
    d.log.info({ snapshot: found.id }, `Deleted snapshot ${found.slug}`);
  }

  #find(orgId: string, idOrSlug: string): SnapshotRow {
    const row = this.#d.snapshots.find(orgId, idOrSlug);
    if (!row) throw new StrataError("snapshot_not_found", `Snapshot ${q(idOrSlug)} not found`);
    return row;
  }
}
