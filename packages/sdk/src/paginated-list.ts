import { StrataError } from "./errors.ts";
import type { Query, Transport } from "./transport.ts";

/** Options of every `list()`: cursor pagination plus a substring search. */
export interface ListOptions {
  /** Items per page, 1–200 (daemon default 50). */
  limit?: number;
  /** Start at this cursor (from a previous page's `nextCursor`). */
  cursor?: string;
  /** Only items whose id or slug contains this text. */
  search?: string;
  signal?: AbortSignal;
}

/**
 * One page of a list, and the way to the next ones. Iterate it with `for await` to walk
 * every item across all pages; use `items` and `getNextPage()` to page by hand.
 *
 * @example
 * ```ts
 * for await (const volume of await client.volumes.list()) console.log(volume.slug);
 *
 * let page: PaginatedList<Volume> | null = await client.volumes.list({ limit: 10 });
 * while (page) {
 *   console.log(page.items.length);
 *   page = await page.getNextPage();
 * }
 * ```
 */
export class PaginatedList<T> implements AsyncIterable<T> {
  /** The items of this page. */
  readonly items: T[];
  /** The cursor of the next page, or `null` on the last page. */
  readonly nextCursor: string | null;
  readonly #fetchPage: (cursor: string) => Promise<PaginatedList<T>>;

  /** @internal Built by the SDK's `list()` methods. */
  constructor(
    items: T[],
    nextCursor: string | null,
    fetchPage: (cursor: string) => Promise<PaginatedList<T>>,
  ) {
    this.items = items;
    this.nextCursor = nextCursor;
    this.#fetchPage = fetchPage;
  }

  /**
   * Whether another page follows this one.
   *
   * @example
   * ```ts
   * const page = await client.volumes.list({ limit: 10 });
   * if (page.hasMore) console.log("more than 10 volumes");
   * ```
   */
  get hasMore(): boolean {
    return this.nextCursor !== null;
  }

  /**
   * Fetches the next page, with the same `limit` and `search`; `null` on the last page.
   *
   * @example
   * ```ts
   * const first = await client.snapshots.list({ limit: 50 });
   * const second = await first.getNextPage(); // null when everything fit on one page
   * ```
   */
  async getNextPage(): Promise<PaginatedList<T> | null> {
    if (this.nextCursor === null) return null;
    return this.#fetchPage(this.nextCursor);
  }

  /**
   * Yields every item of this page and of all the pages after it, fetching them lazily.
   *
   * @example
   * ```ts
   * const slugs: string[] = [];
   * for await (const snapshot of await client.snapshots.list()) slugs.push(snapshot.slug);
   * ```
   */
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    let page: PaginatedList<T> | null = this;
    const seen = new Set<string>();
    while (page) {
      yield* page.items;
      if (page.nextCursor !== null) {
        // A daemon bug that repeats a cursor would otherwise loop forever.
        if (seen.has(page.nextCursor)) {
          throw new StrataError(
            "invalid_response",
            `The daemon announced cursor ${JSON.stringify(page.nextCursor)} twice while listing`,
          );
        }
        seen.add(page.nextCursor);
      }
      page = await page.getNextPage();
    }
  }
}

/** Fetches the first page of a list and wires `getNextPage()` to fetch the following ones. */
export function listPages<T>(
  t: Transport,
  path: string,
  options: ListOptions,
): Promise<PaginatedList<T>> {
  return listPagesOf<T, T>(t, path, {
    query: { limit: options.limit, search: options.search },
    cursor: options.cursor,
    signal: options.signal,
    map: (item) => item,
  });
}

/**
 * As {@link listPages}, with any query (repeated or filter parameters) and a function that
 * turns each wire item into what the list yields.
 */
export function listPagesOf<W, T>(
  t: Transport,
  path: string,
  options: {
    query: Query;
    cursor?: string | undefined;
    signal?: AbortSignal | undefined;
    map: (item: W) => T;
  },
): Promise<PaginatedList<T>> {
  const fetchPage = async (cursor: string | undefined): Promise<PaginatedList<T>> => {
    const page = await t.page<W>(path, { ...options.query, cursor }, options.signal);
    return new PaginatedList(page.items.map(options.map), page.nextCursor, fetchPage);
  };
  return fetchPage(options.cursor);
}
