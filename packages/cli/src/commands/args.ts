import {
  checkCapacity,
  checkCpus,
  checkMemory,
  checkPort,
  checkRetention,
  checkSchedule,
  checkSnapshotKeep,
  checkTimeout,
  cronFields,
  type RuleFailure,
} from "@strata/api/rules";
import type { PaginatedList } from "@strata/sdk";
import { InvalidArgumentError } from "commander";

/**
 * Makes a broken rule of the contract (`@strata/api/rules`, the daemon's own checks) a
 * usage error: the CLI exits 2 with the rule's message before contacting the daemon.
 */
export function usage(failure: RuleFailure | undefined): void {
  if (failure) throw new InvalidArgumentError(`${failure.message}.`);
}

/** A positional argument or option value checked by a rule, passed on unchanged. */
export function ruled(check: (value: string) => RuleFailure | undefined) {
  return (value: string): string => {
    usage(check(value));
    return value;
  };
}

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
export const parseCapacity = ruled(checkCapacity);

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
 * `what` names the expected form in the usage error, and `check` (a rule of the contract)
 * is applied to all the pairs given so far.
 */
export function keyValue(
  what: string,
  check?: (pairs: Record<string, string>) => RuleFailure | undefined,
) {
  return (value: string, previous: Record<string, string> = {}): Record<string, string> => {
    const i = value.indexOf("=");
    if (i <= 0) throw new InvalidArgumentError(`expected ${what}, got ${JSON.stringify(value)}.`);
    const pairs = { ...previous, [value.slice(0, i)]: value.slice(i + 1) };
    usage(check?.(pairs));
    return pairs;
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

/** `--memory <size>`: a size within the contract's memory limits. */
export const parseMemory = ruled(checkMemory);

/** `--cpus <n>`: a number of cores, at least the contract's minimum. */
export function parseCpus(value: string): number {
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value.trim())) {
    throw new InvalidArgumentError("expected a number of cores such as 1 or 0.5.");
  }
  usage(checkCpus(n));
  return n;
}

/** `--port <n>`: 1–65535. */
export function parsePort(value: string): number {
  if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError("expected a port such as 8000.");
  const n = Number(value);
  usage(checkPort(n));
  return n;
}

/** `--timeout <duration>`: `30m`, `600s`, `2h`. */
export function parseTimeout(value: string): string {
  usage(checkTimeout(value));
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

/** `--snapshot-frequency <cron>`: five fields; the daemon checks each one's values. */
export function parseCron(value: string): string {
  usage(checkSchedule({ snapshotMode: "automatic", snapshotFrequency: value }));
  return cronFields(value).join(" ");
}

/** `--snapshot-keep <n>`: 1–1000. */
export function parseKeep(value: string): number {
  const n = parseLimit(value);
  usage(checkSnapshotKeep(n));
  return n;
}

/** `--snapshot-retention <duration>`: `30d`, `12h`, `90m`, `45s` or `never`. */
export function parseRetention(value: string): string {
  const v = value.trim();
  usage(checkRetention(v));
  return v;
}
