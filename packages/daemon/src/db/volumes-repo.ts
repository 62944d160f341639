import type { DatabaseSync, SQLInputValue } from "node:sqlite";
import { type Page, type PageRequest, pageConditions, toPage } from "./page.ts";

export interface VolumeRow {
  id: string;
  org_id: string;
  slug: string;
  region: string;
  status: "creating" | "ready" | "failed";
  failure_reason: string | null;
  capacity: number;
  bootable: number;
  base_image: string | null;
  base_snapshot_id: string | null;
  base_snapshot_slug: string | null;
  attached_to: string | null;
  /** The snapshot a restore in progress copies from; nothing may attach the volume meanwhile. */
  restoring_from?: string | null;
  created_at: string;
  deleted_at: string | null;
  purge_at: string | null;
}

export type NewVolume = Pick<
  VolumeRow,
  | "id"
  | "org_id"
  | "slug"
  | "region"
  | "status"
  | "capacity"
  | "bootable"
  | "base_image"
  | "base_snapshot_id"
  | "base_snapshot_slug"
  | "created_at"
>;

/** Volume records. Deleted volumes keep their row (with `deleted_at`) until their data is purged. */
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
        v.org_id,
        v.slug,
        v.region,
        v.status,
        v.capacity,
        v.bootable,
        v.base_image,
        v.base_snapshot_id,
        v.base_snapshot_slug,
        v.created_at,
      );
  }

  /** A live (not deleted) volume of the organisation by id or slug. */
  find(orgId: string, idOrSlug: string): VolumeRow | undefined {
    return this.#db
      .prepare(
        "SELECT * FROM volumes WHERE org_id = ? AND deleted_at IS NULL AND (id = ? OR slug = ?)",
      )
      .get(orgId, idOrSlug, idOrSlug) as VolumeRow | undefined;
  }

  byId(id: string): VolumeRow | undefined {
    return this.#db.prepare("SELECT * FROM volumes WHERE id = ?").get(id) as VolumeRow | undefined;
  }

  list(orgId: string, page: PageRequest): Page<VolumeRow> {
    const where = ["org_id = ?", "deleted_at IS NULL"];
    const args: SQLInputValue[] = [orgId];
    pageConditions(page, where, args);
    const rows = this.#db
      .prepare(`SELECT * FROM volumes WHERE ${where.join(" AND ")} ORDER BY created_at, id LIMIT ?`)
      .all(...args, page.limit + 1) as unknown as VolumeRow[];
    return toPage(rows, page.limit, (r) => r);
  }

  /** Volumes in a given status, deleted or not (for the reconciler). */
  inStatus(status: VolumeRow["status"]): VolumeRow[] {
    return this.#db
      .prepare("SELECT * FROM volumes WHERE status = ? AND deleted_at IS NULL")
      .all(status) as unknown as VolumeRow[];
  }

  all(): VolumeRow[] {
    return this.#db.prepare("SELECT * FROM volumes").all() as unknown as VolumeRow[];
  }

  setStatus(id: string, status: VolumeRow["status"], failureReason: string | null = null): void {
    this.#db
      .prepare("UPDATE volumes SET status = ?, failure_reason = ? WHERE id = ?")
      .run(status, failureReason, id);
  }

  /**
   * Attaches every listed volume to the sandbox, or none: fails (returning the first taken
   * one) when any is already attached. Call inside a transaction.
   */
  attach(ids: string[], sandboxId: string): VolumeRow | undefined {
    for (const id of ids) {
      const row = this.byId(id);
      if (row?.attached_to || row?.restoring_from) return row;
    }
    for (const id of ids)
      this.#db.prepare("UPDATE volumes SET attached_to = ? WHERE id = ?").run(sandboxId, id);
    return undefined;
  }

  /**
   * Marks a ready, unattached volume as being restored from `snapshotId`; false when it is
   * attached, being restored, deleted or not ready (the check and the mark are one step).
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

  markDeleted(id: string, deletedAt: string, purgeAt: string): void {
    this.#db
      .prepare("UPDATE volumes SET deleted_at = ?, purge_at = ? WHERE id = ?")
      .run(deletedAt, purgeAt, id);
  }

  /** Deleted volumes whose grace period ended by `now`. */
  duePurge(now: string): VolumeRow[] {
    return this.#db
      .prepare("SELECT * FROM volumes WHERE deleted_at IS NOT NULL AND purge_at <= ?")
      .all(now) as unknown as VolumeRow[];
  }

  remove(id: string): void {
    this.#db.prepare("DELETE FROM volumes WHERE id = ?").run(id);
  }
}
