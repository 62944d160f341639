import { posix } from "node:path";
import { LABEL_LIMITS, parseDuration, parseSize } from "@strata/api";
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
