import type { DatabaseSync, SQLInputValue } from "node:sqlite";
import { fromFlag, fromIso, toFlag, toIso } from "./codec.ts";
import { type Page, type PageRequest, pageConditions, toPage } from "./page.ts";
import type { VolumeBase, VolumeRecord, VolumeStatus } from "./records.ts";

interface VolumeRow {
  id: string;
  org_id: string;
  slug: string;
  region: string;
  status: VolumeStatus;
  failure_reason: string | null;
  capacity: number;
  bootable: number;
  base_image: string | null;
  base_snapshot_id: string | null;
  base_snapshot_slug: string | null;
  attached_to: string | null;
  restoring_from: string | null;
  created_at: string;
  deleted_at: string | null;
  purge_at: string | null;
}

function toRecord(r: VolumeRow): VolumeRecord {
  const base: VolumeBase =
    r.base_image !== null
      ? { kind: "image", image: r.base_image }
      : r.base_snapshot_id !== null
        ? { kind: "snapshot", id: r.base_snapshot_id, slug: r.base_snapshot_slug ?? "" }
        : null;
  return {
    id: r.id,
    orgId: r.org_id,
    slug: r.slug,
    region: r.region,
    status: r.status,
    failureReason: r.failure_reason,
    capacity: r.capacity,
    bootable: fromFlag(r.bootable),
    base,
    attachedTo: r.attached_to,
    restoringFrom: r.restoring_from,
    createdAt: fromIso(r.created_at),
    deletedAt: fromIso(r.deleted_at),
    purgeAt: fromIso(r.purge_at),
  };
}

/** The fields of a new volume; the rest starts empty (not attached, not deleted). */
export type NewVolume = Pick<
  VolumeRecord,
  "id" | "orgId" | "slug" | "region" | "status" | "capacity" | "bootable" | "base" | "createdAt"
>;

/** Volume records. Deleted volumes keep their row (with `deletedAt`) until their data is purged. */
export class VolumesRepo {
  readonly #db: DatabaseSync;
  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  insert(v: NewVolume): void {
    this.#db
      .prepare(
        `INSERT INTO volumes (id, org_id, slug, region, status, capacity, bootable, base_image, base_snapshot_id, base_snapshot_slug, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        v.id,
        v.orgId,
        v.slug,
        v.region,
        v.status,
        v.capacity,
        toFlag(v.bootable),
        v.base?.kind === "image" ? v.base.image : null,
        v.base?.kind === "snapshot" ? v.base.id : null,
        v.base?.kind === "snapshot" ? v.base.slug : null,
        toIso(v.createdAt),
      );
  }

  /** A live (not deleted) volume of the organisation by id or slug. */
  find(orgId: string, idOrSlug: string): VolumeRecord | undefined {
    return this.#one(
      "SELECT * FROM volumes WHERE org_id = ? AND deleted_at IS NULL AND (id = ? OR slug = ?)",
      orgId,
      idOrSlug,
      idOrSlug,
    );
  }

  byId(id: string): VolumeRecord | undefined {
    return this.#one("SELECT * FROM volumes WHERE id = ?", id);
  }

  list(orgId: string, page: PageRequest): Page<VolumeRecord> {
    const where = ["org_id = ?", "deleted_at IS NULL"];
    const args: SQLInputValue[] = [orgId];
    pageConditions(page, where, args);
    const rows = this.#db
      .prepare(`SELECT * FROM volumes WHERE ${where.join(" AND ")} ORDER BY created_at, id LIMIT ?`)
      .all(...args, page.limit + 1) as unknown as VolumeRow[];
    return toPage(rows, page.limit, toRecord);
  }

  all(): VolumeRecord[] {
    return this.#many("SELECT * FROM volumes");
  }

  setStatus(id: string, status: VolumeStatus, failureReason: string | null = null): void {
    this.#db
      .prepare("UPDATE volumes SET status = ?, failure_reason = ? WHERE id = ?")
      .run(status, failureReason, id);
  }

  /**
   * Attaches every listed volume to the sandbox, or none: fails (returning the first one
   * that is taken: attached, or being rolled back) when any is. Call inside a transaction.
   */
  attach(ids: readonly string[], sandboxId: string): VolumeRecord | undefined {
    for (const id of ids) {
      const v = this.byId(id);
      if (v?.attachedTo || v?.restoringFrom) return v;
    }
    for (const id of ids)
      this.#db.prepare("UPDATE volumes SET attached_to = ? WHERE id = ?").run(sandboxId, id);
    return undefined;
  }

  /**
   * Marks a ready, unattached volume as being rolled back to `snapshotId`; false when it is
   * attached, being rolled back, deleted or not ready (the check and the mark are one step).
   */
  beginRestore(id: string, snapshotId: string): boolean {
    const r = this.#db
      .prepare(
        `UPDATE volumes SET restoring_from = ? WHERE id = ? AND status = 'ready'
           AND attached_to IS NULL AND restoring_from IS NULL AND deleted_at IS NULL`,
      )
      .run(snapshotId, id);
    return r.changes === 1;
  }

  endRestore(id: string): void {
    this.#db.prepare("UPDATE volumes SET restoring_from = NULL WHERE id = ?").run(id);
  }

  /** Releases every volume attached to the sandbox. */
  detachAll(sandboxId: string): void {
    this.#db.prepare("UPDATE volumes SET attached_to = NULL WHERE attached_to = ?").run(sandboxId);
  }

  markDeleted(id: string, deletedAt: Date, purgeAt: Date): void {
    this.#db
      .prepare("UPDATE volumes SET deleted_at = ?, purge_at = ? WHERE id = ?")
      .run(toIso(deletedAt), toIso(purgeAt), id);
  }

  /** Deleted volumes whose grace period ended by `now`. */
  duePurge(now: Date): VolumeRecord[] {
    return this.#many(
      "SELECT * FROM volumes WHERE deleted_at IS NOT NULL AND purge_at <= ?",
      toIso(now),
    );
  }

  remove(id: string): void {
    this.#db.prepare("DELETE FROM volumes WHERE id = ?").run(id);
  }

  #one(sql: string, ...args: SQLInputValue[]): VolumeRecord | undefined {
    const row = this.#db.prepare(sql).get(...args) as VolumeRow | undefined;
    return row && toRecord(row);
  }

  #many(sql: string, ...args: SQLInputValue[]): VolumeRecord[] {
    return (this.#db.prepare(sql).all(...args) as unknown as VolumeRow[]).map(toRecord);
  }
}
