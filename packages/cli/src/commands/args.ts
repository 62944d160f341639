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

/**
 * A repeatable `key=value` option (`--label`, `--env`, `--volume`): each use adds one pair;
 * `what` names the expected form in the usage error.
 */
export function keyValue(what: string) {
  return (value: string, previous: Record<string, string> = {}): Record<string, string> => {
    const i = value.indexOf("=");
    if (i <= 0) throw new InvalidArgumentError(`expected ${what}, got ${JSON.stringify(value)}.`);
    return { ...previous, [value.slice(0, i)]: value.slice(i + 1) };
  };
}

/** A repeatable option whose values may also be comma-separated (`--allow-net a,b --allow-net c`). */
export function list(value: string, previous: string[] = []): string[] {
  return [
    ...previous,
    ...value
      .split(",")
      .map((v) => v.trim())
      .filter(Boolean),
  ];
}

/** `--memory <size>`: a size the daemon can parse. */
export function parseMemory(value: string): string {
  if (parseSize(value) === undefined) {
    throw new InvalidArgumentError("expected a size such as 1GiB or 512MiB, or a number of bytes.");
  }
  return value;
}

/** `--cpus <n>`: a positive number of cores. */
export function parseCpus(value: string): number {
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value.trim()) || !(n > 0)) {
    throw new InvalidArgumentError("expected a number of cores such as 1 or 0.5.");
  }
  return n;
}

/** `--port <n>`: 1–65535. */
export function parsePort(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n < 1 || n > 65535) {
    throw new InvalidArgumentError("expected a port between 1 and 65535.");
  }
  return n;
}

/** `--timeout <duration>`: `30m`, `600s`, `2h`. */
export function parseTimeout(value: string): string {
  if (!/^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)\s*$/.test(value)) {
    throw new InvalidArgumentError("expected a duration such as 30m, 600s or 2h.");
  }
  return value.trim();
}

/** `--disk-gb <n>`: a positive number of GB (10^9 bytes). */
export function parseDiskGb(value: string): number {
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value.trim()) || !(n > 0)) {
    throw new InvalidArgumentError("expected a number of GB such as 20 or 0.5.");
  }
  return n;
}

/** `--snapshot-frequency <cron>`: five fields; the daemon checks each one. */
export function parseCron(value: string): string {
  const fields = value.trim().split(/\s+/);
  if (fields.length !== 5) {
    throw new InvalidArgumentError(
      `expected a five-field cron expression such as "0 * * * *", got ${fields.length} field${fields.length === 1 ? "" : "s"}.`,
    );
  }
  return fields.join(" ");
}

/** `--snapshot-retention <duration>`: `30d`, `12h`, `90m`, `45s` or `never`. */
export function parseRetention(value: string): string {
  const v = value.trim();
  if (v !== "never" && !/^\d+(\.\d+)?\s*(ms|s|m|h|d)$/.test(v)) {
    throw new InvalidArgumentError("expected a duration such as 30d, 12h, 90m or 45s, or never.");
  }
  return v;
}
