import type { DatabaseSync, SQLInputValue } from "node:sqlite";
import { type Page, type PageRequest, pageConditions, toPage } from "./page.ts";

export interface SnapshotRow {
  id: string;
  org_id: string;
  slug: string;
  region: string;
  status: "creating" | "ready" | "failed";
  failure_reason: string | null;
  volume_id: string | null;
  volume_slug: string | null;
  bootable: number;
  created_at: string;
}

/** Snapshot records. */
export class SnapshotsRepo {
  readonly #db: DatabaseSync;
  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  insert(s: SnapshotRow): void {
    this.#db
      .prepare(
        `INSERT INTO snapshots (id, org_id, slug, region, status, failure_reason, volume_id, volume_slug, bootable, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        s.id,
        s.org_id,
        s.slug,
        s.region,
        s.status,
        s.failure_reason,
        s.volume_id,
        s.volume_slug,
        s.bootable,
        s.created_at,
      );
  }

  find(orgId: string, idOrSlug: string): SnapshotRow | undefined {
    return this.#db
      .prepare("SELECT * FROM snapshots WHERE org_id = ? AND (id = ? OR slug = ?)")
      .get(orgId, idOrSlug, idOrSlug) as SnapshotRow | undefined;
  }

  byId(id: string): SnapshotRow | undefined {
    return this.#db.prepare("SELECT * FROM snapshots WHERE id = ?").get(id) as
      | SnapshotRow
      | undefined;
  }

  list(orgId: string, page: PageRequest): Page<SnapshotRow> {
    const where = ["org_id = ?"];
    const args: SQLInputValue[] = [orgId];
    pageConditions(page, where, args);
    const rows = this.#db
      .prepare(
        `SELECT * FROM snapshots WHERE ${where.join(" AND ")} ORDER BY created_at, id LIMIT ?`,
      )
      .all(...args, page.limit + 1) as unknown as SnapshotRow[];
    return toPage(rows, page.limit, (r) => r);
  }

  all(): SnapshotRow[] {
    return this.#db.prepare("SELECT * FROM snapshots").all() as unknown as SnapshotRow[];
  }

  setStatus(id: string, status: SnapshotRow["status"], failureReason: string | null = null): void {
    this.#db
      .prepare("UPDATE snapshots SET status = ?, failure_reason = ? WHERE id = ?")
      .run(status, failureReason, id);
  }

  remove(id: string): void {
    this.#db.prepare("DELETE FROM snapshots WHERE id = ?").run(id);
  }
}
