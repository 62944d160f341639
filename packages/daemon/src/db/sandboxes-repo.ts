import type { DatabaseSync, SQLInputValue } from "node:sqlite";
import type { SandboxRoot, SandboxStatus } from "@strata/api";
import { fromFlag, fromIso, fromJson, toFlag, toIso, toJson } from "./codec.ts";
import { ephemeralWrite } from "./database.ts";
import { type Page, pageConditions, toPage } from "./page.ts";
import type { SandboxMount, SandboxRecord, SandboxRootRef } from "./records.ts";

interface SandboxRow {
  id: string;
  org_id: string;
  region: string;
  status: SandboxStatus;
  stop_reason: string | null;
  root_kind: SandboxRootRef["kind"];
  /** Volume id, snapshot id, or image name. */
  root_ref: string;
  root_slug: string | null;
  root_layer: string;
  /** JSON `SandboxMount[]`. */
  mounts: string;
  labels: string;
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
  timeout_ms: number | null;
  /** JSON SandboxRoot. */
  template: string;
  persistent: number;
  disk_bytes: number | null;
  retained: number;
  snapshot_frequency: string | null;
  snapshot_keep: number | null;
}

function toRecord(r: SandboxRow): SandboxRecord {
  const root: SandboxRootRef =
    r.root_kind === "volume"
      ? { kind: "volume", volumeId: r.root_ref, volumeSlug: r.root_slug ?? "" }
      : r.root_kind === "snapshot"
        ? { kind: "snapshot", snapshotId: r.root_ref, snapshotSlug: r.root_slug ?? "" }
        : { kind: "image", image: r.root_ref };
  return {
    id: r.id,
    orgId: r.org_id,
    region: r.region,
    status: r.status,
    stopReason: r.stop_reason,
    root,
    rootLayer: r.root_layer,
    mounts: fromJson<SandboxMount[]>(r.mounts),
    labels: fromJson<Record<string, string>>(r.labels),
    env: fromJson<Record<string, string>>(r.env),
    memory: r.memory,
    cpus: r.cpus,
    runtime: r.runtime === "runsc" ? "runsc" : "crun",
    port: r.port,
    allowNet: fromJson<string[]>(r.allow_net),
    address: r.address,
    createdAt: fromIso(r.created_at),
    stoppedAt: fromIso(r.stopped_at),
    expiresAt: fromIso(r.expires_at),
    timeoutMs: r.timeout_ms,
    template: fromJson<SandboxRoot>(r.template),
    persistent: fromFlag(r.persistent),
    diskBytes: r.disk_bytes,
    retained: fromFlag(r.retained),
    schedule:
      r.snapshot_frequency === null
        ? null
        : { frequency: r.snapshot_frequency, keep: r.snapshot_keep },
  };
}

function toRow(s: SandboxRecord): SandboxRow {
  return {
    id: s.id,
    org_id: s.orgId,
    region: s.region,
    status: s.status,
    stop_reason: s.stopReason,
    root_kind: s.root.kind,
    root_ref:
      s.root.kind === "volume"
        ? s.root.volumeId
        : s.root.kind === "snapshot"
          ? s.root.snapshotId
          : s.root.image,
    root_slug:
      s.root.kind === "volume"
        ? s.root.volumeSlug
        : s.root.kind === "snapshot"
          ? s.root.snapshotSlug
          : null,
    root_layer: s.rootLayer,
    mounts: toJson(s.mounts),
    labels: toJson(s.labels),
    env: toJson(s.env),
    memory: s.memory,
    cpus: s.cpus,
    runtime: s.runtime,
    port: s.port,
    allow_net: s.allowNet === null ? null : toJson(s.allowNet),
    address: s.address,
    created_at: toIso(s.createdAt),
    stopped_at: toIso(s.stoppedAt),
    expires_at: toIso(s.expiresAt),
    timeout_ms: s.timeoutMs,
    template: toJson(s.template),
    persistent: toFlag(s.persistent),
    disk_bytes: s.diskBytes,
    retained: toFlag(s.retained),
    snapshot_frequency: s.schedule?.frequency ?? null,
    snapshot_keep: s.schedule?.keep ?? null,
  };
}

export interface SandboxFilter {
  status?: SandboxStatus | undefined;
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

  insert(s: SandboxRecord): void {
    const row = toRow(s);
    const cols = Object.keys(row);
    this.#write(
      `INSERT INTO sandboxes (${cols.join(", ")}) VALUES (${cols.map(() => "?").join(", ")})`,
      ...(Object.values(row) as SQLInputValue[]),
    );
  }

  find(orgId: string, id: string): SandboxRecord | undefined {
    return this.#one("SELECT * FROM sandboxes WHERE org_id = ? AND id = ?", orgId, id);
  }

  byId(id: string): SandboxRecord | undefined {
    return this.#one("SELECT * FROM sandboxes WHERE id = ?", id);
  }

  list(orgId: string, f: SandboxFilter): Page<SandboxRecord> {
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
    return toPage(rows, f.limit, toRecord);
  }

  /** Sandboxes not yet stopped (for shutdown and the reconciler). */
  live(): SandboxRecord[] {
    return this.#many("SELECT * FROM sandboxes WHERE status != 'stopped'");
  }

  /** Persistent sandboxes whose disk still exists (their layers are owned). */
  retained(): SandboxRecord[] {
    return this.#many("SELECT * FROM sandboxes WHERE retained = 1");
  }

  setStatus(id: string, status: SandboxStatus): void {
    this.#write("UPDATE sandboxes SET status = ? WHERE id = ?", status, id);
  }

  setAddress(id: string, address: string): void {
    this.#write("UPDATE sandboxes SET address = ? WHERE id = ?", address, id);
  }

  setPort(id: string, port: number | null): void {
    this.#write("UPDATE sandboxes SET port = ? WHERE id = ?", port, id);
  }

  setExpiry(id: string, expiresAt: Date | null): void {
    this.#write("UPDATE sandboxes SET expires_at = ? WHERE id = ?", toIso(expiresAt), id);
  }

  /** Records why the sandbox ends; the first reason given wins. */
  setStopReason(id: string, reason: string): void {
    this.#write(
      "UPDATE sandboxes SET stop_reason = COALESCE(stop_reason, ?) WHERE id = ?",
      reason,
      id,
    );
  }

  markStopped(id: string, reason: string, at: Date): void {
    this.#write(
      "UPDATE sandboxes SET status = 'stopped', stop_reason = COALESCE(stop_reason, ?), stopped_at = ? WHERE id = ?",
      reason,
      toIso(at),
      id,
    );
  }

  /** A persistent sandbox booting again: fresh status, reason and timestamps. */
  restart(id: string, expiresAt: Date | null): void {
    this.#db
      .prepare(
        "UPDATE sandboxes SET status = 'starting', stop_reason = NULL, stopped_at = NULL, address = NULL, expires_at = ? WHERE id = ?",
      )
      .run(toIso(expiresAt), id);
  }

  setDisk(id: string, bytes: number): void {
    this.#db.prepare("UPDATE sandboxes SET disk_bytes = ? WHERE id = ?").run(bytes, id);
  }

  setRetained(id: string, retained: boolean): void {
    this.#db.prepare("UPDATE sandboxes SET retained = ? WHERE id = ?").run(toFlag(retained), id);
  }

  remove(id: string): void {
    this.#write("DELETE FROM sandboxes WHERE id = ?", id);
  }

  #write(sql: string, ...args: SQLInputValue[]): void {
    ephemeralWrite(this.#db, () => {
      this.#db.prepare(sql).run(...args);
    });
  }

  #one(sql: string, ...args: SQLInputValue[]): SandboxRecord | undefined {
    const row = this.#db.prepare(sql).get(...args) as SandboxRow | undefined;
    return row && toRecord(row);
  }

  #many(sql: string, ...args: SQLInputValue[]): SandboxRecord[] {
    return (this.#db.prepare(sql).all(...args) as unknown as SandboxRow[]).map(toRecord);
  }
}
