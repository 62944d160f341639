import {
  checkSchedule,
  checkTimeout,
  cpusFailure,
  cronFields,
  memoryFailure,
  normaliseMountPath,
  parseDuration,
  parseSize,
  type SnapshotMode,
} from "@strata/api";
import { Cron } from "croner";
import { q, StrataError } from "../errors.ts";
import { enforce } from "./validate.ts";

// The stateless rules of a sandbox's input (mount paths, labels, env, ports, the shape of
// a schedule, the syntax of sizes and durations) are in `@strata/api/rules`, applied by the
// schemas. What is left here needs the daemon's limits, or a library the contract lacks.

/** A sandbox's `volumes` (checked by the schema) as [mount path, volume ref] pairs, normalised. */
export function normaliseMounts(volumes: Record<string, string>): [string, string][] {
  return Object.entries(volumes).map(([path, ref]) => [normaliseMountPath(path), ref]);
}

/** A timeout string → milliseconds, within (0, max]. */
export function parseTimeout(input: string, maxMs: number): number {
  enforce(checkTimeout(input));
  const ms = parseDuration(input)!;
  if (ms > maxMs)
    throw new StrataError(
      "invalid_timeout",
      `Invalid timeout ${q(input)}: at most ${maxMs / 3_600_000} hours`,
    );
  return ms;
}

export interface ResourceLimits {
  memory: { minBytes: number; maxBytes: number; defaultBytes: number };
  cpus: { min: number; max: number; default: number };
}

/** `memory` → bytes within this host's limits (the contract's are narrower than no host). */
export function parseMemory(
  input: number | string | undefined,
  limits: ResourceLimits["memory"],
): number {
  if (input === undefined) return limits.defaultBytes;
  const bytes = parseSize(input);
  if (bytes === undefined || bytes < limits.minBytes || bytes > limits.maxBytes)
    enforce(memoryFailure(input, limits));
  return bytes!;
}

/** `cpus` → cores within this host's limits, to hundredths. */
export function parseCpus(input: number | undefined, limits: ResourceLimits["cpus"]): number {
  if (input === undefined) return limits.default;
  if (!Number.isFinite(input) || input < limits.min || input > limits.max)
    enforce(cpusFailure(input, limits));
  return Math.round(input * 100) / 100;
}

export interface SnapshotSchedule {
  /** A five-field cron expression; null when snapshots are manual. */
  frequency: string | null;
  keep: number | null;
}

/**
 * A create's `snapshotMode`, `snapshotFrequency` and `snapshotKeep` (whose shape the
 * schema checked) as a schedule: croner checks each cron field's values, which the
 * contract leaves to the daemon.
 */
export function validateSchedule(input: {
  snapshotMode?: SnapshotMode | undefined;
  snapshotFrequency?: string | undefined;
  snapshotKeep?: number | undefined;
}): SnapshotSchedule {
  enforce(checkSchedule(input));
  const { snapshotMode: mode = "manual", snapshotFrequency: frequency, snapshotKeep: keep } = input;
  if (mode === "manual" || frequency === undefined) return { frequency: null, keep: null };
  const expression = cronFields(frequency).join(" ");
  try {
    new Cron(expression, { paused: true }).stop();
  } catch (err) {
    throw new StrataError(
      "invalid_snapshot_schedule",
      `Invalid snapshotFrequency ${q(frequency)}: ${(err as Error).message}`,
    );
  }
  return { frequency: expression, keep: keep ?? null };
}

/** A persistent sandbox's disk size in GB (10^9 bytes) → bytes, within the capacity limits. */
export function parseDiskGB(
  input: number | undefined,
  limits: { minBytes: number; maxBytes: number },
): number | undefined {
  if (input === undefined) return undefined;
  const bytes = Math.round(input * 1e9);
  if (!Number.isFinite(input) || bytes < limits.minBytes || bytes > limits.maxBytes)
    throw new StrataError(
      "invalid_disk_size",
      `Invalid persistentDiskGB ${q(input)}: between ${limits.minBytes / 1e9} and ${limits.maxBytes / 1e9}`,
    );
  return bytes;
}
