import type { DatabaseSync } from "node:sqlite";
import { fromIso, toIso } from "./codec.ts";
import type { OrgRecord, TokenRecord } from "./records.ts";

interface OrgRow {
  id: string;
  name: string;
  snapshot_retention: string | null;
}

interface TokenRow {
  id: string;
  org_id: string;
  name: string;
  hash: string;
  created_at: string;
}

const org = (r: OrgRow): OrgRecord => ({
  id: r.id,
  name: r.name,
  snapshotRetention: r.snapshot_retention,
});

/** Organisations and their API tokens (stored as SHA-256 hashes only). */
export class OrgsRepo {
  readonly #db: DatabaseSync;
  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  byName(name: string): OrgRecord | undefined {
    const row = this.#db
      .prepare("SELECT id, name, snapshot_retention FROM orgs WHERE name = ?")
      .get(name) as OrgRow | undefined;
    return row && org(row);
  }

  byId(id: string): OrgRecord | undefined {
    const row = this.#db
      .prepare("SELECT id, name, snapshot_retention FROM orgs WHERE id = ?")
      .get(id) as OrgRow | undefined;
    return row && org(row);
  }

  insert(o: { id: string; name: string; createdAt: Date }): void {
    this.#db
      .prepare("INSERT INTO orgs (id, name, created_at) VALUES (?, ?, ?)")
      .run(o.id, o.name, toIso(o.createdAt));
  }

  /** null: the daemon's default retention applies. */
  setSnapshotRetention(id: string, retention: string | null): void {
    this.#db.prepare("UPDATE orgs SET snapshot_retention = ? WHERE id = ?").run(retention, id);
  }

  tokenByHash(hash: string): TokenRecord | undefined {
    const r = this.#db.prepare("SELECT * FROM tokens WHERE hash = ?").get(hash) as
      | TokenRow
      | undefined;
    return (
      r && {
        id: r.id,
        orgId: r.org_id,
        name: r.name,
        hash: r.hash,
        createdAt: fromIso(r.created_at),
      }
    );
  }

  insertToken(t: TokenRecord): void {
    this.#db
      .prepare("INSERT INTO tokens (id, org_id, name, hash, created_at) VALUES (?, ?, ?, ?, ?)")
      .run(t.id, t.orgId, t.name, t.hash, toIso(t.createdAt));
  }

  deleteTokensNamed(orgId: string, name: string): void {
    this.#db.prepare("DELETE FROM tokens WHERE org_id = ? AND name = ?").run(orgId, name);
  }
}
