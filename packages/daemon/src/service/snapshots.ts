import type { Snapshot, SnapshotCreate, SnapshotListQuery, SnapshotUpdate } from "@strata/api";
import type { Page } from "../db/page.ts";
import type { SnapshotRecord } from "../db/records.ts";
import type { Store } from "../db/store.ts";
import { q, StrataError } from "../errors.ts";
import type { InFlight } from "../lib/in-flight.ts";
import type { KeyedLock } from "../lib/keyed-lock.ts";
import type { Logger } from "../lib/logger.ts";
import type { StorageDriver } from "../storage/driver.ts";
import type { EventLog } from "./events.ts";

import type { Quiesce } from "./quiesce.ts";
import { requireVolumeReady, snapshotNotFound, volumeNotFound } from "./refusals.ts";
import type { SnapshotWriter } from "./snapshot-writer.ts";
import { snapshotView } from "./views.ts";

export interface SnapshotServiceDeps {
  store: Store;
  writer: SnapshotWriter;
  driver: StorageDriver;
  quiesce: Quiesce;
  locks: KeyedLock;
  events: EventLog;
  log: Logger;
  /** Copies of snapshots in flight (sandbox roots being cloned): a delete waits for them. */
  snapshotCopies: InFlight;
}

/**
 * Snapshots of every kind: read-only layers, taken in O(1), that any number of volumes
 * and sandboxes start from. Made by `SnapshotWriter` (of volumes here, of running sandboxes
 * in `SandboxSnapshotService`); read, protected, expired and deleted here. Every snapshot
 * has an expiry from its organisation's retention (or none), enforced by `reap`; protected
 * snapshots are kept by both the reaper and DELETE.
 */
export class SnapshotService {
  readonly #d: SnapshotServiceDeps;

  constructor(deps: SnapshotServiceDeps) {
    this.#d = deps;
  }

  /** Snapshots a volume; works while a sandbox uses it (held still only for the copy). Answers once ready. */
  async createFromVolume(
    orgId: string,
    volumeIdOrSlug: string,
    input: SnapshotCreate,
  ): Promise<Snapshot> {
    const d = this.#d;
    const found = d.store.volumes.find(orgId, volumeIdOrSlug);
    if (!found) throw volumeNotFound(volumeIdOrSlug, "snapshot");
    using _lock = await d.locks.acquire(found.id);
    const volume = d.store.volumes.byId(found.id);
    if (!volume || volume.deletedAt !== null)
      throw new StrataError(
        "volume_not_found",
        `Cannot snapshot volume ${q(volumeIdOrSlug)}: it was deleted meanwhile`,
      );
    requireVolumeReady(volume, "snapshot");
    const draft = d.writer.begin({
      orgId,
      name: input.slug,
      region: volume.region,
      origin: { kind: "volume", volumeId: volume.id, volumeSlug: volume.slug },
      bootable: volume.bootable,
    });
    const snapshot = await d.writer.complete(
      draft,
      async (layer) => {
        await using _still = await d.quiesce.volume(volume.id);
        await d.driver.snapshot(volume.id, layer);
      },
      { onFailure: "forget", what: `Cannot snapshot volume ${q(volume.slug)}` },
    );
    d.log.info(
      { snapshot: snapshot.id, volume: volume.id },
      `Snapshot ${snapshot.slug} of volume ${volume.slug} is ready`,
    );
    return this.view(snapshot.id);
  }

  async get(orgId: string, idOrSlug: string): Promise<Snapshot> {
    return this.view(this.#find(orgId, idOrSlug).id);
  }

  /** The API view of a snapshot by id. */
  async view(id: string): Promise<Snapshot> {
    const snapshot = this.#d.store.snapshots.byId(id);
    if (!snapshot) throw snapshotNotFound(id);
    return (await this.#views([snapshot]))[0]!;
  }

  async list(orgId: string, query: SnapshotListQuery): Promise<Page<Snapshot>> {
    const page = this.#d.store.snapshots.list(orgId, {
      limit: query.limit,
      cursor: query.cursor,
      search: query.search,
      kind: query.kind,
      sandboxId: query.sandbox,
    });
    return { items: await this.#views(page.items), nextCursor: page.nextCursor };
  }

  /** Protects or unprotects a snapshot, or changes its expiry. */
  async update(orgId: string, idOrSlug: string, input: SnapshotUpdate): Promise<Snapshot> {
    const d = this.#d;
    const found = this.#find(orgId, idOrSlug);
    using _lock = await d.locks.acquire(found.id);
    if (!d.store.snapshots.byId(found.id)) throw snapshotNotFound(idOrSlug);
    d.store.snapshots.update(found.id, {
      ...(input.protected === undefined ? {} : { protected: input.protected }),
      ...(input.expiresAt === undefined
        ? {}
        : { expiresAt: input.expiresAt === null ? null : new Date(input.expiresAt) }),
    });
    return this.view(found.id);
  }

  /**
   * Deletes a snapshot for good. Volumes and sandboxes made from it are independent copies
   * and keep working; copies of it in flight finish first. A protected snapshot, or one
   * still being created, is refused.
   */
  async delete(orgId: string, idOrSlug: string): Promise<void> {
    const d = this.#d;
    const found = this.#find(orgId, idOrSlug);
    using _lock = await d.locks.acquire(found.id);
    const snapshot = d.store.snapshots.byId(found.id);
    if (!snapshot) throw snapshotNotFound(idOrSlug);
    if (snapshot.protected)
      throw new StrataError(
        "snapshot_protected",
        `Cannot delete snapshot ${q(snapshot.slug)}: it is protected; unprotect it first`,
      );
    if (snapshot.status === "creating")
      throw new StrataError(
        "snapshot_not_ready",
        `Cannot delete snapshot ${q(snapshot.slug)}: it is still being created`,
      );
    await this.#remove(snapshot);
    d.log.info({ snapshot: snapshot.id }, `Deleted snapshot ${snapshot.slug}`);
  }

  /**
   * Deletes every expired, unprotected snapshot (the reaper's pass). Booting from a
   * snapshot does not extend its expiry. Returns the ids deleted.
   */
  async reap(now = new Date()): Promise<string[]> {
    const d = this.#d;
    const reaped: string[] = [];
    for (const candidate of d.store.snapshots.expired(now, 500)) {
      using _lock = await d.locks.acquire(candidate.id);
      const snapshot = d.store.snapshots.byId(candidate.id);
      // Protected, extended or deleted since the query: leave it.
      if (
        !snapshot ||
        snapshot.protected ||
        snapshot.expiresAt === null ||
        snapshot.expiresAt > now
      )
        continue;
      await this.#remove(snapshot);
      reaped.push(snapshot.id);
      d.events.record(
        snapshot.orgId,
        "snapshot.expired",
        {
          snapshot: snapshot.id,
          sandbox: snapshot.origin.kind === "sandbox" ? snapshot.origin.sandboxId : null,
        },
        `Deleted snapshot ${snapshot.slug}: it expired at ${snapshot.expiresAt.toISOString()}`,
      );
    }
    return reaped;
  }

  /** Forgets the record at once (new copies fail), waits for copies in flight, drops the data. */
  async #remove(snapshot: SnapshotRecord): Promise<void> {
    const d = this.#d;
    d.store.transaction(() => {
      d.store.names.release(snapshot.id);
      d.store.snapshots.remove(snapshot.id);
    });
    await d.snapshotCopies.drain(snapshot.id);
    await d.driver.remove(snapshot.id);
  }

  /** Views of snapshots; only ready ones have data whose usage is worth reading. */
  async #views(snapshots: SnapshotRecord[]): Promise<Snapshot[]> {
    const ready = snapshots.filter((s) => s.status === "ready").map((s) => s.id);
    const usage = await this.#d.driver.usage(ready);
    return snapshots.map((s) => snapshotView(s, usage.get(s.id)));
  }

  #find(orgId: string, idOrSlug: string): SnapshotRecord {
    const snapshot = this.#d.store.snapshots.find(orgId, idOrSlug);
    if (!snapshot) throw snapshotNotFound(idOrSlug);
    return snapshot;
  }
}
