import type { DatabaseSync, SQLInputValue } from "node:sqlite";
import type { SandboxRoot, SnapshotKind, SnapshotStatus } from "@strata/api";
import { fromFlag, fromIso, fromJson, toFlag, toIso, toJson } from "./codec.ts";
import { type Page, type PageRequest, pageConditions, toPage } from "./page.ts";
import type { SandboxDefaults, SnapshotOrigin, SnapshotRecord } from "./records.ts";

interface SnapshotRow {
  id: string;
  org_id: string;
  slug: string;
  region: string;
  status: SnapshotStatus;
  failure_reason: string | null;
  volume_id: string | null;
  volume_slug: string | null;
  bootable: number;
  created_at: string;
  kind: SnapshotKind;
  sandbox_id: string | null;
  template: string | null;
  defaults: string | null;
  size_bytes: number | null;
  automatic: number;
  protected: number;
  expires_at: string | null;
  ready_at: string | null;
}

function toRecord(r: SnapshotRow): SnapshotRecord {
  const origin: SnapshotOrigin =
    r.kind === "sandbox"
      ? { kind: "sandbox", sandboxId: r.sandbox_id ?? "" }
      : { kind: "volume", volumeId: r.volume_id ?? "", volumeSlug: r.volume_slug ?? "" };
  return {
    id: r.id,
    orgId: r.org_id,
    slug: r.slug,
    region: r.region,
    status: r.status,
    failureReason: r.failure_reason,
    kind: r.kind,
    origin,
    bootable: fromFlag(r.bootable),
    template: fromJson<SandboxRoot>(r.template),
    defaults: fromJson<SandboxDefaults>(r.defaults),
    sizeBytes: r.size_bytes,
    automatic: fromFlag(r.automatic),
    protected: fromFlag(r.protected),
    createdAt: fromIso(r.created_at),
    expiresAt: fromIso(r.expires_at),
    settledAt: fromIso(r.ready_at),
  };
}

function toRow(s: SnapshotRecord): SnapshotRow {
  return {
    id: s.id,
    org_id: s.orgId,
    slug: s.slug,
    region: s.region,
    status: s.status,
    failure_reason: s.failureReason,
    volume_id: s.origin.kind === "volume" ? s.origin.volumeId : null,
    volume_slug: s.origin.kind === "volume" ? s.origin.volumeSlug : null,
    bootable: toFlag(s.bootable),
    created_at: toIso(s.createdAt),
    kind: s.kind,
    sandbox_id: s.origin.kind === "sandbox" ? s.origin.sandboxId : null,
    template: s.template === null ? null : toJson(s.template),
    defaults: s.defaults === null ? null : toJson(s.defaults),
    size_bytes: s.sizeBytes,
    automatic: toFlag(s.automatic),
    protected: toFlag(s.protected),
    expires_at: toIso(s.expiresAt),
    ready_at: toIso(s.settledAt),
  };
}

export interface SnapshotFilter extends PageRequest {
  kind?: SnapshotKind | undefined;
  sandboxId?: string | undefined;
}

/** How a snapshot's creation ended: ready (with its size, when known), or failed with the reason. */
export type SnapshotOutcome =
  | { status: "ready"; sizeBytes: number | null }
  | { status: "failed"; reason: string };

/** Snapshot records, of every kind. */
export class SnapshotsRepo {
  readonly #db: DatabaseSync;
  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  insert(s: SnapshotRecord): void {
    const row = toRow(s);
    const cols = Object.keys(row);
    this.#db
      .prepare(
        `INSERT INTO snapshots (${cols.join(", ")}) VALUES (${cols.map(() => "?").join(", ")})`,
      )
      .run(...(Object.values(row) as SQLInputValue[]));
  }

  find(orgId: string, idOrSlug: string): SnapshotRecord | undefined {
    return this.#one(
      "SELECT * FROM snapshots WHERE org_id = ? AND (id = ? OR slug = ?)",
      orgId,
      idOrSlug,
      idOrSlug,
    );
  }

  byId(id: string): SnapshotRecord | undefined {
    return this.#one("SELECT * FROM snapshots WHERE id = ?", id);
  }

  list(orgId: string, page: SnapshotFilter): Page<SnapshotRecord> {
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
    return toPage(rows, page.limit, toRecord);
  }

  all(): SnapshotRecord[] {
    return this.#many("SELECT * FROM snapshots");
  }

  /** Records how a creation ended, and when. */
  finish(id: string, outcome: SnapshotOutcome, at: Date): void {
    this.#db
      .prepare(
        "UPDATE snapshots SET status = ?, failure_reason = ?, size_bytes = ?, ready_at = ? WHERE id = ?",
      )
      .run(
        outcome.status,
        outcome.status === "failed" ? outcome.reason : null,
        outcome.status === "ready" ? outcome.sizeBytes : null,
        toIso(at),
        id,
      );
  }

  setSize(id: string, bytes: number): void {
    this.#db.prepare("UPDATE snapshots SET size_bytes = ? WHERE id = ?").run(bytes, id);
  }

  update(id: string, changes: { protected?: boolean; expiresAt?: Date | null }): void {
    if (changes.protected !== undefined)
      this.#db
        .prepare("UPDATE snapshots SET protected = ? WHERE id = ?")
        .run(toFlag(changes.protected), id);
    if (changes.expiresAt !== undefined)
      this.#db
        .prepare("UPDATE snapshots SET expires_at = ? WHERE id = ?")
        .run(toIso(changes.expiresAt), id);
  }

  /** Ready or failed snapshots past their expiry and not protected, oldest first. */
  expired(now: Date, limit: number): SnapshotRecord[] {
    return this.#many(
      "SELECT * FROM snapshots WHERE expires_at IS NOT NULL AND expires_at <= ? AND protected = 0 AND status != 'creating' ORDER BY expires_at LIMIT ?",
      toIso(now),
      limit,
    );
  }

  /** A sandbox's automatic snapshots that are ready and not protected, newest first. */
  automaticOf(sandboxId: string): SnapshotRecord[] {
    return this.#many(
      "SELECT * FROM snapshots WHERE sandbox_id = ? AND automatic = 1 AND protected = 0 AND status = 'ready' ORDER BY created_at DESC, id DESC",
      sandboxId,
    );
  }

  remove(id: string): void {
    this.#db.prepare("DELETE FROM snapshots WHERE id = ?").run(id);
  }

  #one(sql: string, ...args: SQLInputValue[]): SnapshotRecord | undefined {
    const row = this.#db.prepare(sql).get(...args) as SnapshotRow | undefined;
    return row && toRecord(row);
  }

  #many(sql: string, ...args: SQLInputValue[]): SnapshotRecord[] {
    return (this.#db.prepare(sql).all(...args) as unknown as SnapshotRow[]).map(toRecord);
  }
}
