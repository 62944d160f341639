import type { SQLInputValue } from "node:sqlite";

/** Keyset pagination over (created_at, id), shared by the list queries. */

export interface PageRequest {
  limit: number;
  cursor?: string | undefined;
  search?: string | undefined;
}

export interface Page<T> {
  items: T[];
  /** Cursor of the next page, or null on the last page. */
  nextCursor: string | null;
}

export interface Cursor {
  createdAt: string;
  id: string;
}

export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify([c.createdAt, c.id])).toString("base64url");
}

/** Decodes a cursor; `undefined` when it is not one this daemon made. */
export function decodeCursor(s: string): Cursor | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(s, "base64url").toString());
    if (
      Array.isArray(v) &&
      v.length === 2 &&
      typeof v[0] === "string" &&
      typeof v[1] === "string"
    ) {
      return { createdAt: v[0], id: v[1] };
    }
  } catch {}
  return undefined;
}

/** `LIKE` pattern matching `text` anywhere, with LIKE's wildcards escaped (use `ESCAPE '\'`). */
export function likeContains(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * Adds a page request's conditions to a WHERE clause being built: rows after the cursor
 * in (created_at, id) order, and whose slug or id contains the search text.
 */
export function pageConditions(page: PageRequest, where: string[], args: SQLInputValue[]): void {
  const cursor = page.cursor === undefined ? undefined : decodeCursor(page.cursor);
  if (cursor) {
    where.push("(created_at, id) > (?, ?)");
    args.push(cursor.createdAt, cursor.id);
  }
  if (page.search) {
    where.push("(slug LIKE ? ESCAPE '\\' OR id LIKE ? ESCAPE '\\')");
    args.push(likeContains(page.search), likeContains(page.search));
  }
}

/** Turns `limit + 1` fetched rows into a page. */
export function toPage<R extends { created_at: string; id: string }, T>(
  rows: R[],
  limit: number,
  map: (r: R) => T,
): Page<T> {
  const more = rows.length > limit;
  const kept = more ? rows.slice(0, limit) : rows;
  const last = kept.at(-1);
  return {
    items: kept.map(map),
    nextCursor: more && last ? encodeCursor({ createdAt: last.created_at, id: last.id }) : null,
  };
}
