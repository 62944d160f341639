import type { Event, EventListQuery, EventType } from "@strata/api";
import type { Page } from "../db/page.ts";
import type { EventRecord } from "../db/records.ts";
import type { Store } from "../db/store.ts";
import type { Logger } from "../lib/logger.ts";

/**
 * The event log: what the daemon did on its own (scheduled snapshots, the reaper, stops)
 * and what it skipped. Every event also goes to the daemon's log.
 */
export class EventLog {
  readonly #repo: Store["events"];
  readonly #log: Logger;
  #last = 0;
  #seq = 0;

  constructor(repo: Store["events"], log: Logger) {
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
    const event: EventRecord = {
      // Time-ordered, so events of one millisecond still list in the order they happened.
      id: `evt_${now.toString(36).padStart(9, "0")}${this.#seq.toString(36).padStart(4, "0")}`,
      orgId,
      sandboxId: about.sandbox ?? null,
      snapshotId: about.snapshot ?? null,
      type,
      message,
      createdAt: new Date(now),
    };
    this.#repo.insert(event);
    this.#log.info({ event: type, sandbox: event.sandboxId, snapshot: event.snapshotId }, message);
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
        sandbox: r.sandboxId,
        snapshot: r.snapshotId,
        message: r.message,
        createdAt: r.createdAt.toISOString(),
      })),
      nextCursor: page.nextCursor,
    };
  }

  /** Drops events older than `maxAgeMs`. */
  prune(maxAgeMs: number): number {
    return this.#repo.prune(new Date(Date.now() - maxAgeMs));
  }
}
