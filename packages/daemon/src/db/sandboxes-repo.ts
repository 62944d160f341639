import type { DatabaseSync, SQLInputValue } from "node:sqlite";
import { ephemeralWrite } from "./database.ts";
import { type Page, pageConditions, toPage } from "./page.ts";

export interface SandboxRow {
  id: string;
  org_id: string;
  region: string;
  status: "starting" | "ready" | "paused" | "stopping" | "stopped";
  stop_reason: string | null;
  root_kind: "volume" | "snapshot" | "image";
  /** Volume id, snapshot id, or image name. */
  root_ref: string;
  root_slug: string | null;
  root_layer: string;
  /** JSON: `{ path, volumeId, volumeSlug }[]`. */
  mounts: string;
  /** JSON object. */
  labels: string;
  /** JSON object. */
  env: string;
  memory: number;
  cpus: number;
  runtime: string;
  port: number | null;
  /** JSON array, or null for unrestricted egress. */
  allow_net: string | null;
  address: string | null;
  created_at: string;
  stopped_at: string | null;
  expires_at: string | null;
  /** The timeout asked for at creation, re-armed when a persistent sandbox starts again. */
  timeout_ms: number | null;
  /** JSON SandboxRoot: where the filesystem first came from (inherited through restores). */
  template: string;
  persistent: number;
  disk_bytes: number | null;
  /** 1 while a persistent sandbox's root layer exists. */
  retained: number;
  /** Five-field cron expression when snapshots are automatic. */
  snapshot_frequency: string | null;
  snapshot_keep: number | null;
}

export interface SandboxFilter {
  status?: SandboxRow["status"] | undefined;
  labels?: Record<string, string>;
  limit: number;
  cursor?: string | undefined;
}

/**
 * Sandbox records. Stopped sandboxes keep their row, for listings and for their history.
 * Writes are ephemeral (no fsync, see `ephemeralWrite`): they describe processes that a
 * power loss ends anyway.
 */
export class SandboxesRepo {
  readonly #db: DatabaseSync;
  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  insert(r: SandboxRow): void {
    ephemeralWrite(this.#db, () => {
      const cols = Object.keys(r);
      this.#db
        .prepare(
          `INSERT INTO sandboxes (${cols.join(", ")}) VALUES (${cols.map(() => "?").join(", ")})`,
        )
        .run(...(Object.values(r) as SQLInputValue[]));
    });
  }

  find(orgId: string, id: string): SandboxRow | undefined {
    return this.#db.prepare("SELECT * FROM sandboxes WHERE org_id = ? AND id = ?").get(orgId, id) as
      | SandboxRow
      | undefined;
  }

  byId(id: string): SandboxRow | undefined {
    return this.#db.prepare("SELECT * FROM sandboxes WHERE id = ?").get(id) as
      | SandboxRow
      | undefined;
  }

  list(orgId: string, f: SandboxFilter): Page<SandboxRow> {
    const where = ["org_id = ?"];
    const args: SQLInputValue[] = [orgId];
    if (f.status) {
      where.push("status = ?");
      args.push(f.status);
    }
    for (const [k, v] of Object.entries(f.labels ?? {})) {
      where.push("json_extract(labels, ?) = ?");
      args.push(`$.${JSON.stringify(k)}`, v);
    }
    pageConditions({ limit: f.limit, cursor: f.cursor }, where, args);
    const rows = this.#db
      .prepare(
        `SELECT * FROM sandboxes WHERE ${where.join(" AND ")} ORDER BY created_at, id LIMIT ?`,
      )
      .all(...args, f.limit + 1) as unknown as SandboxRow[];
    return toPage(rows, f.limit, (r) => r);
  }

  /** Sandboxes not yet stopped (for shutdown and the reconciler). */
  live(): SandboxRow[] {
    return this.#db
      .prepare("SELECT * FROM sandboxes WHERE status != 'stopped'")
      .all() as unknown as SandboxRow[];
  }

  setStatus(id: string, status: SandboxRow["status"]): void {
    ephemeralWrite(this.#db, () => {
      this.#db.prepare("UPDATE sandboxes SET status = ? WHERE id = ?").run(status, id);
    });
  }

  setAddress(id: string, address: string): void {
    ephemeralWrite(this.#db, () => {
      this.#db.prepare("UPDATE sandboxes SET address = ? WHERE id = ?").run(address, id);
    });
  }

  setPort(id: string, port: number | null): void {
    ephemeralWrite(this.#db, () => {
      this.#db.prepare("UPDATE sandboxes SET port = ? WHERE id = ?").run(port, id);
    });
  }

  setExpiry(id: string, expiresAt: string | null): void {
    ephemeralWrite(this.#db, () => {
      this.#db.prepare("UPDATE sandboxes SET expires_at = ? WHERE id = ?").run(expiresAt, id);
    });
  }

  markStopped(id: string, reason: string, at: string): void {
    ephemeralWrite(this.#db, () => {
      this.#db
        .prepare(
          "UPDATE sandboxes SET status = 'stopped', stop_reason = COALESCE(stop_reason, ?), stopped_at = ? WHERE id = ?",
        )
        .run(reason, at, id);
    });
  }

  /** A persistent sandbox booting again: fresh status, reason and timestamps. */
  restart(id: string, expiresAt: string | null): void {
    this.#db
      .prepare(
        "UPDATE sandboxes SET status = 'starting', stop_reason = NULL, stopped_at = NULL, address = NULL, expires_at = ? WHERE id = ?",
      )
      .run(expiresAt, id);
  }

  setDisk(id: string, bytes: number): void {
    this.#db.prepare("UPDATE sandboxes SET disk_bytes = ? WHERE id = ?").run(bytes, id);
  }

  setRetained(id: string, retained: boolean): void {
    this.#db.prepare("UPDATE sandboxes SET retained = ? WHERE id = ?").run(retained ? 1 : 0, id);
  }

  /** Persistent sandboxes whose disk still exists (their layers are owned). */
  retained(): SandboxRow[] {
    return this.#db
      .prepare("SELECT * FROM sandboxes WHERE retained = 1")
      .all() as unknown as SandboxRow[];
  }

  setStopReason(id: string, reason: string): void {
    ephemeralWrite(this.#db, () => {
      this.#db
        .prepare("UPDATE sandboxes SET stop_reason = COALESCE(stop_reason, ?) WHERE id = ?")
        .run(reason, id);
    });
  }

  remove(id: string): void {
    ephemeralWrite(this.#db, () => {
      this.#db.prepare("DELETE FROM sandboxes WHERE id = ?").run(id);
    });
  }
}
