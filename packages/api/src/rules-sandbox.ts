/**
 * The stateless rules of a sandbox's create request that look at more than one value:
 * mount paths, labels, environment, snapshot schedule. Part of `@strata/api/rules`.
 */
import type { RuleFailure } from "./rules.ts";

const q = (value: unknown): string => JSON.stringify(value);

// ---------------------------------------------------------------------------------------
// Mount paths

/** Folders a volume may not be mounted over (or under): the system's own, and the agent's. */
export const RESERVED_MOUNT_PATHS = [
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
] as const;

/** The longest mount path. */
export const MOUNT_PATH_MAX = 255;

/** A mount path without its trailing slashes (`"/srv/"` → `"/srv"`, `"/"` stays). */
export function normaliseMountPath(path: string): string {
  return path.replace(/(.)\/+$/, "$1");
}

/** Absolute, at most {@link MOUNT_PATH_MAX} long, no NUL, no empty, `.` or `..` component. */
function isNormalisedAbsolute(path: string): boolean {
  if (!path.startsWith("/") || path.includes("\0") || path.length > MOUNT_PATH_MAX) return false;
  const trimmed = normaliseMountPath(path);
  return (
    trimmed === "/" ||
    trimmed
      .slice(1)
      .split("/")
      .every((part) => part !== "" && part !== "." && part !== "..")
  );
}

/**
 * The mount paths of a sandbox's `volumes` (path → volume): each a normalised absolute
 * path (trailing slashes aside), none over or under a {@link RESERVED_MOUNT_PATHS} folder,
 * none inside another. Fails with `invalid_mount_path` on the first bad path, in order.
 */
export function checkMounts(volumes: Record<string, string>): RuleFailure | undefined {
  const seen: string[] = [];
  for (const path of Object.keys(volumes)) {
    const bad = (why: string): RuleFailure => ({
      code: "invalid_mount_path",
      message: `Invalid mount path ${q(path)}: ${why}`,
    });
    if (!isNormalisedAbsolute(path)) return bad('give a normalised absolute path such as "/data"');
    const norm = normaliseMountPath(path);
    const reserved = RESERVED_MOUNT_PATHS.find(
      (r) => norm === r || (r !== "/" && norm.startsWith(`${r}/`)),
    );
    if (reserved !== undefined) return bad(`volumes cannot be mounted over ${reserved}`);
    const other = seen.find(
      (o) => o === norm || o.startsWith(`${norm}/`) || norm.startsWith(`${o}/`),
    );
    if (other !== undefined) return bad(`it overlaps ${q(other)}`);
    seen.push(norm);
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------
// Labels and environment

/** Documented limits of `labels`. */
export const LABEL_LIMITS = { count: 10, keyBytes: 64, valueBytes: 256 } as const;

/** A label key: 1–64 of ASCII letters, digits, `_`, `-`, `.`, `/` (so bytes are characters). */
export const LABEL_KEY_PATTERN = /^[A-Za-z0-9_./-]{1,64}$/;

const utf8Bytes = (s: string): number => new TextEncoder().encode(s).length;

/** A sandbox's `labels`: at most 10, keys by {@link LABEL_KEY_PATTERN}, values ≤ 256 bytes. */
export function checkLabels(labels: Record<string, string>): RuleFailure | undefined {
  const entries = Object.entries(labels);
  if (entries.length > LABEL_LIMITS.count)
    return {
      code: "invalid_labels",
      message: `Too many labels (${entries.length}): at most ${LABEL_LIMITS.count}`,
    };
  for (const [key, value] of entries) {
    if (!LABEL_KEY_PATTERN.test(key))
      return {
        code: "invalid_labels",
        message: `Invalid label key ${q(key)}: 1–${LABEL_LIMITS.keyBytes} bytes of letters, digits, "_", "-", ".", "/"`,
      };
    if (utf8Bytes(value) > LABEL_LIMITS.valueBytes)
      return {
        code: "invalid_labels",
        message: `Invalid value of label ${q(key)}: at most ${LABEL_LIMITS.valueBytes} bytes`,
      };
  }
  return undefined;
}

/** An environment variable's name: a letter or `_`, then letters, digits and `_`. */
export const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A sandbox's `env`: names by {@link ENV_NAME_PATTERN}, values without NUL bytes. */
export function checkEnv(env: Record<string, string>): RuleFailure | undefined {
  for (const [name, value] of Object.entries(env)) {
    if (!ENV_NAME_PATTERN.test(name))
      return { code: "invalid_env", message: `Invalid environment variable name ${q(name)}` };
    if (value.includes("\0"))
      return {
        code: "invalid_env",
        message: `Invalid value of environment variable ${q(name)}: it contains a NUL byte`,
      };
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------
// Snapshot schedule

/** The most automatic snapshots `snapshotKeep` may keep. */
export const SNAPSHOT_KEEP_MAX = 1000;

/** `snapshotKeep`: a whole number from 1 to {@link SNAPSHOT_KEEP_MAX}. */
export function checkSnapshotKeep(keep: number): RuleFailure | undefined {
  if (!Number.isInteger(keep) || keep < 1 || keep > SNAPSHOT_KEEP_MAX)
    return {
      code: "invalid_snapshot_schedule",
      message: `Invalid snapshotKeep ${q(keep)}: a whole number from 1 to ${SNAPSHOT_KEEP_MAX}`,
    };
  return undefined;
}

/** Splits a cron expression into its fields (any run of whitespace separates them). */
export function cronFields(expression: string): string[] {
  return expression.trim().split(/\s+/);
}

/**
 * The shape of a sandbox's snapshot schedule: `"automatic"` mode needs `snapshotFrequency`
 * with five cron fields (minute hour day-of-month month day-of-week) and takes a
 * `snapshotKeep` from 1 to {@link SNAPSHOT_KEEP_MAX}; `"manual"` (the default) takes
 * neither. Each field's values are the daemon's to check (croner).
 */
export function checkSchedule(input: {
  snapshotMode?: string | undefined;
  snapshotFrequency?: string | undefined;
  snapshotKeep?: number | undefined;
}): RuleFailure | undefined {
  const { snapshotMode: mode = "manual", snapshotFrequency: frequency, snapshotKeep: keep } = input;
  const bad = (message: string): RuleFailure => ({ code: "invalid_snapshot_schedule", message });
  if (mode === "manual") {
    if (frequency !== undefined || keep !== undefined)
      return bad(`snapshotFrequency and snapshotKeep apply only with snapshotMode "automatic"`);
    return undefined;
  }
  if (frequency === undefined)
    return bad(
      `snapshotMode "automatic" needs snapshotFrequency, a five-field cron expression such as "0 * * * *"`,
    );
  const fields = cronFields(frequency);
  if (fields.length !== 5)
    return bad(
      `Invalid snapshotFrequency ${q(frequency)}: give five fields (minute hour day-of-month month day-of-week), got ${fields.length}`,
    );
  return keep === undefined ? undefined : checkSnapshotKeep(keep);
}
