import { posix } from "node:path";
import {
  LABEL_LIMITS,
  parseDuration,
  parseSize,
  SNAPSHOT_KEEP_MAX,
  type SnapshotMode,
} from "@strata/api";
import { Cron } from "croner";
import { q, StrataError } from "../errors.ts";

/** Folders a volume may not be mounted over: the system's own, and the agent's. */
const RESERVED_MOUNTS = [
  "/",
  "/proc",
  "/sys",
  "/dev",
  "/.strata",
  "/etc",
  "/bin",
  "/sbin",
  "/lib",
  "/lib64",
  "/usr",
];

/** Checks and normalises the mount paths of `volumes`; returns [path, volume ref] pairs. */
export function validateMounts(volumes: Record<string, string>): [string, string][] {
  const out: [string, string][] = [];
  for (const [path, ref] of Object.entries(volumes)) {
    const norm = posix.normalize(path).replace(/(.)\/+$/, "$1");
    if (
      !path.startsWith("/") ||
      norm !== path.replace(/(.)\/+$/, "$1") ||
      path.includes("\0") ||
      path.length > 255
    ) {
      throw new StrataError(
        "invalid_mount_path",
        `Invalid mount path ${q(path)}: give a normalised absolute path such as "/data"`,
      );
    }
    const reserved = RESERVED_MOUNTS.find(
      (r) => norm === r || (r !== "/" && norm.startsWith(`${r}/`)),
    );
    if (reserved !== undefined) {
      throw new StrataError(
        "invalid_mount_path",
        `Invalid mount path ${q(path)}: volumes cannot be mounted over ${reserved}`,
      );
    }
    for (const [other] of out) {
      if (other === norm || other.startsWith(`${norm}/`) || norm.startsWith(`${other}/`)) {
        throw new StrataError(
          "invalid_mount_path",
          `Invalid mount path ${q(path)}: it overlaps ${q(other)}`,
        );
      }
    }
    out.push([norm, ref]);
  }
  return out;
}

export function validateLabels(labels: Record<string, string>): void {
  const entries = Object.entries(labels);
  if (entries.length > LABEL_LIMITS.count) {
    throw new StrataError(
      "invalid_labels",
      `Too many labels (${entries.length}): at most ${LABEL_LIMITS.count}`,
    );
  }
  for (const [k, v] of entries) {
    if (k.length === 0 || Buffer.byteLength(k) > LABEL_LIMITS.keyBytes || !/^[\w.\-/]+$/.test(k)) {
      throw new StrataError(
        "invalid_labels",
        `Invalid label key ${q(k)}: 1–${LABEL_LIMITS.keyBytes} bytes of letters, digits, "_", "-", ".", "/"`,
      );
    }
    if (Buffer.byteLength(v) > LABEL_LIMITS.valueBytes) {
      throw new StrataError(
        "invalid_labels",
        `Invalid value of label ${q(k)}: at most ${LABEL_LIMITS.valueBytes} bytes`,
      );
    }
  }
}

export function validateEnv(env: Record<string, string>): void {
  for (const [k, v] of Object.entries(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k))
      throw new StrataError("invalid_env", `Invalid environment variable name ${q(k)}`);
    if (v.includes("\0"))
      throw new StrataError(
        "invalid_env",
        `Invalid value of environment variable ${q(k)}: it contains a NUL byte`,
      );
  }
}

/** A timeout string → milliseconds, within (0, max]. */
export function parseTimeout(input: string, maxMs: number): number {
  const ms = parseDuration(input);
  if (ms === undefined || ms <= 0) {
    throw new StrataError(
      "invalid_timeout",
      `Invalid timeout ${q(input)}: give a duration such as "30m", "600s" or "2h"`,
    );
  }
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

export function parseMemory(
  input: number | string | undefined,
  limits: ResourceLimits["memory"],
): number {
  if (input === undefined) return limits.defaultBytes;
  const bytes = parseSize(input);
  if (bytes === undefined || bytes < limits.minBytes || bytes > limits.maxBytes) {
    throw new StrataError(
      "invalid_limits",
      `Invalid memory ${q(input)}: give a size between ${limits.minBytes / 2 ** 20} MiB and ${limits.maxBytes / 2 ** 30} GiB, e.g. "1GiB"`,
    );
  }
  return bytes;
}

export function parseCpus(input: number | undefined, limits: ResourceLimits["cpus"]): number {
  if (input === undefined) return limits.default;
  if (!Number.isFinite(input) || input < limits.min || input > limits.max) {
    throw new StrataError(
      "invalid_limits",
      `Invalid cpus ${q(input)}: between ${limits.min} and ${limits.max}`,
    );
  }
  return Math.round(input * 100) / 100;
}

export function validatePort(port: number | undefined): void {
  if (port !== undefined && (port < 1 || port > 65535))
    throw new StrataError("invalid_port", `Invalid port ${q(port)}: 1–65535`);
}

export interface SnapshotSchedule {
  /** A five-field cron expression; null when snapshots are manual. */
  frequency: string | null;
  keep: number | null;
}

/**
 * Checks `snapshotMode`, `snapshotFrequency` and `snapshotKeep` together: automatic mode
 * needs a valid five-field cron expression, manual mode takes neither of the others.
 */
export function validateSchedule(input: {
  snapshotMode?: SnapshotMode | undefined;
  snapshotFrequency?: string | undefined;
  snapshotKeep?: number | undefined;
}): SnapshotSchedule {
  const { snapshotMode: mode = "manual", snapshotFrequency: frequency, snapshotKeep: keep } = input;
  if (mode === "manual") {
    if (frequency !== undefined || keep !== undefined)
      throw new StrataError(
        "invalid_snapshot_schedule",
        `snapshotFrequency and snapshotKeep apply only with snapshotMode "automatic"`,
      );
    return { frequency: null, keep: null };
  }
  if (frequency === undefined)
    throw new StrataError(
      "invalid_snapshot_schedule",
      `snapshotMode "automatic" needs snapshotFrequency, a five-field cron expression such as "0 * * * *"`,
    );
  const fields = frequency.trim().split(/\s+/);
  if (fields.length !== 5)
    throw new StrataError(
      "invalid_snapshot_schedule",
      `Invalid snapshotFrequency ${q(frequency)}: give five fields (minute hour day-of-month month day-of-week), got ${fields.length}`,
    );
  try {
    new Cron(fields.join(" "), { paused: true }).stop();
  } catch (err) {
    throw new StrataError(
      "invalid_snapshot_schedule",
      `Invalid snapshotFrequency ${q(frequency)}: ${(err as Error).message}`,
    );
  }
  if (keep !== undefined && (!Number.isInteger(keep) || keep < 1 || keep > SNAPSHOT_KEEP_MAX))
    throw new StrataError(
      "invalid_snapshot_schedule",
      `Invalid snapshotKeep ${q(keep)}: a whole number from 1 to ${SNAPSHOT_KEEP_MAX}`,
    );
  return { frequency: fields.join(" "), keep: keep ?? null };
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
