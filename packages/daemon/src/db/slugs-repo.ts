import type { DatabaseSync } from "node:sqlite";

/** The per-organisation slug namespace shared by volumes and snapshots. */
export class SlugsRepo {
  readonly #db: DatabaseSync;
  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /** The id of the resource holding `slug`, if any. */
  owner(orgId: string, slug: string): string | undefined {
    const row = this.#db
      .prepare("SELECT resource_id FROM slugs WHERE org_id = ? AND slug = ?")
      .get(orgId, slug) as { resource_id: string } | undefined;
    return row?.resource_id;
  }

  claim(orgId: string, slug: string, resourceId: string): void {
    this.#db
      .prepare("INSERT INTO slugs (org_id, slug, resource_id) VALUES (?, ?, ?)")
      .run(orgId, slug, resourceId);
  }

  release(resourceId: string): void {
    this.#db.prepare("DELETE FROM slugs WHERE resource_id = ?").run(resourceId);
  }
}
