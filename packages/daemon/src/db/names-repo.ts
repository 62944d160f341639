import type { DatabaseSync } from "node:sqlite";

/**
 * The per-organisation namespace shared by volumes and snapshots: a name (a volume's slug,
 * a snapshot's slug or name) is held by at most one resource.
 */
export class NamesRepo {
  readonly #db: DatabaseSync;
  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /** The id of the resource holding `name`, if any. */
  holder(orgId: string, name: string): string | undefined {
    const row = this.#db
      .prepare("SELECT resource_id FROM slugs WHERE org_id = ? AND slug = ?")
      .get(orgId, name) as { resource_id: string } | undefined;
    return row?.resource_id;
  }

  claim(orgId: string, name: string, resourceId: string): void {
    this.#db
      .prepare("INSERT INTO slugs (org_id, slug, resource_id) VALUES (?, ?, ?)")
      .run(orgId, name, resourceId);
  }

  release(resourceId: string): void {
    this.#db.prepare("DELETE FROM slugs WHERE resource_id = ?").run(resourceId);
  }
}
