import type { Event, EventType } from "@strata/api";
import { listPagesOf, type PaginatedList } from "./paginated-list.ts";
import type { Transport } from "./transport.ts";

/** Options of `events.list()` and `sandbox.events()`. */
export interface EventListOptions {
  /** Only events of this type, e.g. `"snapshot.failed"`. */
  type?: EventType;
  /** Only events about this sandbox (its id). */
  sandbox?: string;
  /** Items per page, 1–500 (daemon default 100). */
  limit?: number;
  /** Start at this cursor (from a previous page's `nextCursor`). */
  cursor?: string;
  signal?: AbortSignal;
}

/**
 * `client.events`: what the daemon did on its own or refused to do, oldest first:
 * scheduled snapshot ticks and skips, snapshots that became ready or failed, the reaper's
 * deletions, pauses, resumes, stops and starts.
 */
export class Events {
  readonly #t: Transport;

  /** @internal Use `client.events`. */
  constructor(transport: Transport) {
    this.#t = transport;
  }

  /**
   * Lists events, oldest first, one page at a time; iterate the result with `for await`
   * to walk all pages.
   *
   * @example
   * ```ts
   * for await (const e of await client.events.list({ type: "snapshot.failed" })) {
   *   console.log(e.createdAt, e.sandbox, e.message);
   * }
   * ```
   */
  list(options: EventListOptions = {}): Promise<PaginatedList<Event>> {
    return listEvents(this.#t, "/events", options);
  }
}

/** Lists events at `path` (`/events`, or one sandbox's `/sandboxes/{id}/events`). */
export function listEvents(
  t: Transport,
  path: string,
  options: EventListOptions,
): Promise<PaginatedList<Event>> {
  return listPagesOf<Event, Event>(t, path, {
    query: { type: options.type, sandbox: options.sandbox, limit: options.limit },
    cursor: options.cursor,
    signal: options.signal,
    map: (event) => event,
  });
}
