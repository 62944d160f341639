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
  kind: "volume" | "sandbox";
  sandbox_id: string | null;
  /** JSON SandboxRoot: where a sandbox snapshot's filesystem first came from. */
  template: string | null;
  /** JSON `{ memory, cpus }`: what a sandbox restored from it gets by default. */
  defaults: string | null;
  size_bytes: number | null;
  automatic: number;
  protected: number;
  expires_at: string | null;
  ready_at: string | null;
}

export interface SnapshotFilter extends PageRequest {
  kind?: SnapshotRow["kind"] | undefined;
  sandboxId?: string | undefined;
}

/** Snapshot records. */
export class SnapshotsRepo {
  readonly #db: DatabaseSync;
  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  insert(s: SnapshotRow): void {
    const cols = Object.keys(s);
    this.#db
      .prepare(
        `INSERT INTO snapshots (${cols.join(", ")}) VALUES (${cols.map(() => "?").join(", ")})`,
      )
      .run(...(Object.values(s) as SQLInputValue[]));
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

  list(orgId: string, page: SnapshotFilter): Page<SnapshotRow> {
    const where = ["org_id = ?"];
    const args: SQLInputValue[] = [orgId];
    if (page.kind) {
      where.push("kind = ?");
      args.push(page.kind);
    }
    if (page.sandboxId) {
      where.push("sandbox_id = ?");
      args.push(page.sandboxId);
    }
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

  /** Records the end of a creation: ready with its size, or failed with the reason. */
  settle(
    id: string,
    outcome: { status: "ready"; sizeBytes: number | null } | { status: "failed"; reason: string },
    at: string,
  ): void {
    this.#db
      .prepare(
        "UPDATE snapshots SET status = ?, failure_reason = ?, size_bytes = ?, ready_at = ? WHERE id = ?",
      )
      .run(
        outcome.status,
        outcome.status === "failed" ? outcome.reason : null,
        outcome.status === "ready" ? outcome.sizeBytes : null,
        at,
        id,
      );
  }

  setSize(id: string, bytes: number): void {
    this.#db.prepare("UPDATE snapshots SET size_bytes = ? WHERE id = ?").run(bytes, id);
  }

  update(id: string, changes: { protected?: boolean; expiresAt?: string | null }): void {
    if (changes.protected !== undefined)
      this.#db
        .prepare("UPDATE snapshots SET protected = ? WHERE id = ?")
        .run(changes.protected ? 1 : 0, id);
    if (changes.expiresAt !== undefined)
      this.#db
        .prepare("UPDATE snapshots SET expires_at = ? WHERE id = ?")
        .run(changes.expiresAt, id);
  }

  /** Ready or failed snapshots past their expiry and not protected, oldest first. */
  expired(now: string, limit: number): SnapshotRow[] {
    return this.#db
      .prepare(
        "SELECT * FROM snapshots WHERE expires_at IS NOT NULL AND expires_at <= ? AND protected = 0 AND status != 'creating' ORDER BY expires_at LIMIT ?",
      )
      .all(now, limit) as unknown as SnapshotRow[];
  }

  /** A sandbox's automatic snapshots that are ready and not protected, newest first. */
  automaticOf(sandboxId: string): SnapshotRow[] {
    return this.#db
      .prepare(
        "SELECT * FROM snapshots WHERE sandbox_id = ? AND automatic = 1 AND protected = 0 AND status = 'ready' ORDER BY created_at DESC, id DESC",
      )
      .all(sandboxId) as unknown as SnapshotRow[];
  }

  remove(id: string): void {
    this.#db.prepare("DELETE FROM snapshots WHERE id = ?").run(id);
  }
}
