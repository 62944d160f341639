import type { DatabaseSync, SQLInputValue } from "node:sqlite";
import { fromIso, toIso } from "./codec.ts";
import { type Page, pageConditions, toPage } from "./page.ts";
import type { EventRecord } from "./records.ts";

interface EventRow {
  id: string;
  org_id: string;
  sandbox_id: string | null;
  snapshot_id: string | null;
  type: string;
  message: string;
  created_at: string;
}

const toRecord = (r: EventRow): EventRecord => ({
  id: r.id,
  orgId: r.org_id,
  sandboxId: r.sandbox_id,
  snapshotId: r.snapshot_id,
  type: r.type,
  message: r.message,
  createdAt: fromIso(r.created_at),
});

export interface EventFilter {
  type?: string | undefined;
  sandboxId?: string | undefined;
  limit: number;
  cursor?: string | undefined;
}

/** The event log: what the daemon did on its own (schedules, reaper) or refused to do. */
export class EventsRepo {
  readonly #db: DatabaseSync;
  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  insert(e: EventRecord): void {
    this.#db
      .prepare(
        "INSERT INTO events (id, org_id, sandbox_id, snapshot_id, type, message, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
      )
      .run(e.id, e.orgId, e.sandboxId, e.snapshotId, e.type, e.message, toIso(e.createdAt));
  }

  list(orgId: string, f: EventFilter): Page<EventRecord> {
    const where = ["org_id = ?"];
    const args: SQLInputValue[] = [orgId];
    if (f.type) {
      where.push("type = ?");
      args.push(f.type);
    }
    if (f.sandboxId) {
      where.push("sandbox_id = ?");
      args.push(f.sandboxId);
    }
    pageConditions({ limit: f.limit, cursor: f.cursor }, where, args);
    const rows = this.#db
      .prepare(`SELECT * FROM events WHERE ${where.join(" AND ")} ORDER BY created_at, id LIMIT ?`)
      .all(...args, f.limit + 1) as unknown as EventRow[];
    return toPage(rows, f.limit, toRecord);
  }

  /** Drops events older than `before`; the log is kept bounded. */
  prune(before: Date): number {
    return Number(
      this.#db.prepare("DELETE FROM events WHERE created_at < ?").run(toIso(before)).changes,
    );
  }
}
