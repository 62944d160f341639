import type { DatabaseSync, SQLInputValue } from "node:sqlite";
import { type Page, pageConditions, toPage } from "./page.ts";

export interface EventRow {
  id: string;
  org_id: string;
  sandbox_id: string | null;
  snapshot_id: string | null;
  type: string;
  message: string;
  created_at: string;
}

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

  insert(e: EventRow): void {
    this.#db
      .prepare(
        "INSERT INTO events (id, org_id, sandbox_id, snapshot_id, type, message, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
      )
      .run(e.id, e.org_id, e.sandbox_id, e.snapshot_id, e.type, e.message, e.created_at);
  }

  list(orgId: string, f: EventFilter): Page<EventRow> {
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
    return toPage(rows, f.limit, (r) => r);
  }

  /** Drops events older than `before`; the log is kept bounded. */
  prune(before: string): number {
    return Number(this.#db.prepare("DELETE FROM events WHERE created_at < ?").run(before).changes);
  }
}
