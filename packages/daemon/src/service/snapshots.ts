import type { DatabaseSync } from "node:sqlite";
import type { Snapshot, SnapshotCreate, SnapshotListQuery, SnapshotUpdate } from "@strata/api";
import { transaction } from "../db/database.ts";
import type { Page } from "../db/page.ts";
import type { SlugsRepo } from "../db/slugs-repo.ts";
import type { SnapshotRow, SnapshotsRepo } from "../db/snapshots-repo.ts";
import type { VolumesRepo } from "../db/volumes-repo.ts";
import { q, StrataError } from "../errors.ts";
import { newId } from "../lib/ids.ts";
import type { InFlight } from "../lib/in-flight.ts";
import type { KeyedLock } from "../lib/keyed-lock.ts";
import type { Logger } from "../lib/logger.ts";
import type { StorageDriver } from "../storage/driver.ts";
import type { EventLog } from "./events.ts";
import type { OrgService } from "./org.ts";
import { claimSlug } from "./slugs.ts";
import { storageStep } from "./storage-errors.ts";
import { snapshotView } from "./views.ts";

export interface SnapshotServiceDeps {
  db: DatabaseSync;
  snapshots: SnapshotsRepo;
  volumes: VolumesRepo;
  slugs: SlugsRepo;
  driver: StorageDriver;
  locks: KeyedLock;
  log: Logger;
  orgs: OrgService;
  events: EventLog;
  /** Restores (sandbox roots being copied from a snapshot) in flight: a delete waits for them. */
  restores: InFlight;
  /**
   * Holds writes to a volume still for the instant of a snapshot (the sandbox runtime
   * freezes the cgroup of the sandbox using it); resolves with the thaw. Absent: no-op.
   */
  quiesce?: (volumeId: string) => Promise<AsyncDisposable>;
}

/**
 * Read-only snapshots, taken in O(1) and usable as the base of any number of volumes and
 * sandboxes: of volumes here, of running sandboxes in `SandboxSnapshotService`. Every
 * snapshot has an expiry from its organisation's retention (or none), enforced by `reap`;
 * protected snapshots are kept by both the reaper and DELETE.
 */
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
      kind: "volume",
      sandbox_id: null,
      template: null,
      defaults: null,
      size_bytes: null,
      automatic: 0,
      protected: 0,
      expires_at: d.orgs.expiryFor(orgId),
      ready_at: null,
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
    const sizeBytes = (await d.driver.usage()).get(row.id)?.referencedBytes ?? 0;
    d.snapshots.settle(row.id, { status: "ready", sizeBytes }, new Date().toISOString());
    stack.move();
    d.log.info(
      { snapshot: row.id, volume: current.id },
      `Snapshot ${row.slug} of volume ${current.slug} is ready`,
    );
    return this.get(orgId, row.id);
  }

  async get(orgId: string, idOrSlug: string): Promise<Snapshot> {
    return this.view(this.#find(orgId, idOrSlug).id);
  }

  /** The API view of a snapshot by id. */
  async view(id: string): Promise<Snapshot> {
    const row = this.#d.snapshots.byId(id);
    if (!row) throw new StrataError("snapshot_not_found", `Snapshot ${q(id)} not found`);
    // Only a ready snapshot has data to measure; polling one being created stays cheap.
    const usage = row.status === "ready" ? (await this.#d.driver.usage()).get(row.id) : undefined;
    return snapshotView(row, usage);
  }

  async list(orgId: string, query: SnapshotListQuery): Promise<Page<Snapshot>> {
    const page = this.#d.snapshots.list(orgId, {
      limit: query.limit,
      cursor: query.cursor,
      search: query.search,
      kind: query.kind,
      sandboxId: query.sandbox,
    });
    const usage = page.items.some((r) => r.status === "ready")
      ? await this.#d.driver.usage()
      : new Map();
    return {
      items: page.items.map((r) => snapshotView(r, usage.get(r.id))),
      nextCursor: page.nextCursor,
    };
  }

  /** Protects or unprotects a snapshot, or changes its expiry. */
  async update(orgId: string, idOrSlug: string, input: SnapshotUpdate): Promise<Snapshot> {
    const d = this.#d;
    const found = this.#find(orgId, idOrSlug);
    using _lock = await d.locks.acquire(found.id);
    if (!d.snapshots.byId(found.id))
      throw new StrataError("snapshot_not_found", `Snapshot ${q(idOrSlug)} not found`);
    d.snapshots.update(found.id, {
      ...(input.protected === undefined ? {} : { protected: input.protected }),
      ...(input.expiresAt === undefined
        ? {}
        : { expiresAt: input.expiresAt === null ? null : new Date(input.expiresAt).toISOString() }),
    });
    return this.view(found.id);
  }

  /**
   * Deletes a snapshot for good. Volumes and sandboxes made from it are independent copies
   * and keep working; restores copying it right now finish first. A protected snapshot, or
   * one still being created, is refused.
   */
  async delete(orgId: string, idOrSlug: string): Promise<void> {
    const d = this.#d;
    const found = this.#find(orgId, idOrSlug);
    using _lock = await d.locks.acquire(found.id);
    const row = d.snapshots.byId(found.id);
    if (!row) throw new StrataError("snapshot_not_found", `Snapshot ${q(idOrSlug)} not found`);
    if (row.protected === 1)
      throw new StrataError(
        "snapshot_protected",
        `Cannot delete snapshot ${q(row.slug)}: it is protected; unprotect it first`,
      );
    if (row.status === "creating")
      throw new StrataError(
        "snapshot_not_ready",
        `Cannot delete snapshot ${q(row.slug)}: it is still being created`,
      );
    await this.#remove(row);
    d.log.info({ snapshot: row.id }, `Deleted snapshot ${row.slug}`);
  }

  /**
   * Deletes every expired, unprotected snapshot (the reaper's pass). Restoring a snapshot
   * does not extend its expiry. Returns the ids deleted.
   */
  async reap(now = new Date()): Promise<string[]> {
    const d = this.#d;
    const reaped: string[] = [];
    for (const candidate of d.snapshots.expired(now.toISOString(), 500)) {
      using _lock = await d.locks.acquire(candidate.id);
      const row = d.snapshots.byId(candidate.id);
      // Protected, extended or deleted since the query: leave it.
      if (
        !row ||
        row.protected === 1 ||
        row.expires_at === null ||
        row.expires_at > now.toISOString()
      )
        continue;
      await this.#remove(row);
      reaped.push(row.id);
      d.events.record(
        row.org_id,
        "snapshot.expired",
        { snapshot: row.id, sandbox: row.sandbox_id },
        `Deleted snapshot ${row.slug}: it expired at ${row.expires_at}`,
      );
    }
    return reaped;
  }

  /** Forgets the record at once (new restores fail), waits for restores in flight, drops the data. */
  async #remove(row: SnapshotRow): Promise<void> {
    const d = this.#d;
    transaction(d.db, () => {
      d.slugs.release(row.id);
      d.snapshots.remove(row.id);
    });
    await d.restores.drain(row.id);
    await d.driver.remove(row.id);
  }

  #find(orgId: string, idOrSlug: string): SnapshotRow {
    const row = this.#d.snapshots.find(orgId, idOrSlug);
    if (!row) throw new StrataError("snapshot_not_found", `Snapshot ${q(idOrSlug)} not found`);
    return row;
  }
}
