import type { Event, EventListQuery, EventType } from "@strata/api";
import type { EventRow, EventsRepo } from "../db/events-repo.ts";
import type { Page } from "../db/page.ts";
import type { Logger } from "../lib/logger.ts";

/**
 * The event log: what the daemon did on its own (scheduled snapshots, the reaper, stops)
 * and what it skipped. Every event also goes to the daemon's log.
 */
export class EventLog {
  readonly #repo: EventsRepo;
  readonly #log: Logger;
  #last = 0;
  #seq = 0;

  constructor(repo: EventsRepo, log: Logger) {
    this.#repo = repo;
    this.#log = log;
  }

  record(
    orgId: string,
    type: EventType,
    about: { sandbox?: string | null; snapshot?: string | null },
    message: string,
  ): void {
    const now = Date.now();
    this.#seq = now === this.#last ? this.#seq + 1 : 0;
    this.#last = now;
    const row: EventRow = {
      // Time-ordered, so events of one millisecond still list in the order they happened.
      id: `evt_${now.toString(36).padStart(9, "0")}${this.#seq.toString(36).padStart(4, "0")}`,
      org_id: orgId,
      sandbox_id: about.sandbox ?? null,
      snapshot_id: about.snapshot ?? null,
      type,
      message,
      created_at: new Date(now).toISOString(),
    };
    this.#repo.insert(row);
    this.#log.info({ event: type, sandbox: row.sandbox_id, snapshot: row.snapshot_id }, message);
  }

  list(orgId: string, query: EventListQuery): Page<Event> {
    const page = this.#repo.list(orgId, {
      type: query.type,
      sandboxId: query.sandbox,
      limit: query.limit,
      cursor: query.cursor,
    });
    return {
      items: page.items.map((r) => ({
        id: r.id,
        type: r.type as EventType,
        sandbox: r.sandbox_id,
        snapshot: r.snapshot_id,
        message: r.message,
        createdAt: r.created_at,
      })),
      nextCursor: page.nextCursor,
    };
  }

  /** Drops events older than `maxAgeMs`. */
  prune(maxAgeMs: number): number {
    return this.#repo.prune(new Date(Date.now() - maxAgeMs).toISOString());
  }
}
