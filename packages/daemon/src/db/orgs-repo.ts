import type { DatabaseSync } from "node:sqlite";

export interface TokenRow {
  id: string;
  org_id: string;
  name: string;
  hash: string;
  created_at: string;
}

/** Organisations and their API tokens (stored as SHA-256 hashes only). */
export class OrgsRepo {
  readonly #db: DatabaseSync;
  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  orgByName(name: string): { id: string; name: string } | undefined {
    return this.#db.prepare("SELECT id, name FROM orgs WHERE name = ?").get(name) as
      | { id: string; name: string }
      | undefined;
  }

  insertOrg(org: { id: string; name: string; createdAt: string }): void {
    this.#db
      .prepare("INSERT INTO orgs (id, name, created_at) VALUES (?, ?, ?)")
      .run(org.id, org.name, org.createdAt);
  }

  tokenByHash(hash: string): TokenRow | undefined {
    return this.#db.prepare("SELECT * FROM tokens WHERE hash = ?").get(hash) as
      | TokenRow
      | undefined;
  }

  insertToken(t: {
    id: string;
    orgId: string;
    name: string;
    hash: string;
    createdAt: string;
  }): void {
    this.#db
      .prepare("INSERT INTO tokens (id, org_id, name, hash, created_at) VALUES (?, ?, ?, ?, ?)")
      .run(t.id, t.orgId, t.name, t.hash, t.createdAt);
  }

  deleteTokensNamed(orgId: string, name: string): void {
    this.#db.prepare("DELETE FROM tokens WHERE org_id = ? AND name = ?").run(orgId, name);
  }

  byId(id: string): { id: string; name: string; snapshot_retention: string | null } | undefined {
    return this.#db.prepare("SELECT id, name, snapshot_retention FROM orgs WHERE id = ?").get(id) as
      | { id: string; name: string; snapshot_retention: string | null }
      | undefined;
  }

  /** null: the daemon's default retention applies. */
  setSnapshotRetention(id: string, retention: string | null): void {
    this.#db.prepare("UPDATE orgs SET snapshot_retention = ? WHERE id = ?").run(retention, id);
  }
}
