import { type PaginatedList, parseSize } from "@strata/sdk";
import { InvalidArgumentError } from "commander";

/** Largest page the daemon serves. */
const MAX_PAGE = 200;

/** `--limit <n>`: a positive whole number. */
export function parseLimit(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1) {
    throw new InvalidArgumentError("expected a whole number of at least 1.");
  }
  return n;
}

/** `--capacity <size>`: checked here so a typo is a usage error; sent to the daemon as typed. */
export function parseCapacity(value: string): string {
  if (parseSize(value) === undefined) {
    throw new InvalidArgumentError(
      "expected a size such as 10GB, 512MiB or 1.5GiB, or a number of bytes.",
    );
  }
  return value;
}

/** The page size to ask for when at most `limit` items are wanted. */
export function pageSize(limit: number | undefined): number | undefined {
  return limit === undefined ? undefined : Math.min(limit, MAX_PAGE);
}

/** Walks every page of a list, stopping after `limit` items when given. */
export async function collect<T>(list: PaginatedList<T>, limit?: number): Promise<T[]> {
  const items: T[] = [];
  if (limit === 0) return items;
  for await (const item of list) {
    items.push(item);
    if (limit !== undefined && items.length >= limit) break;
  }
  return items;
}
