/**
 * @module
 * The stateless input rules of the contract, without zod: the schemas apply them (so
 * `openapi.json` documents them), the CLI checks its arguments with them before sending
 * anything, and the daemon answers a broken rule with the rule's own code and message.
 * Rules that need state or configuration (a daemon's capacity limits, the host's memory,
 * the regions served, a name already taken) stay in the daemon's services.
 *
 * Import it at run time as `@strata/api/rules`; it loads no zod.
 *
 * ## Glossary
 *
 * - **name**: what a user calls a volume, a volume snapshot or a sandbox snapshot. The
 *   three share one namespace per organisation and one rule ({@link NAME_RULES}), so a name
 *   that any API accepts can be addressed through every API (`{idOrSlug}` path parameters).
 * - **slug**: the field that holds a name on volumes and snapshots (`Volume.slug`,
 *   `Snapshot.slug`, `VolumeCreate.slug`, `SnapshotCreate.slug`); `SandboxSnapshotCreate`
 *   calls it `name`. Same rule, two field names for historical reasons.
 * - **id**: what the daemon calls a resource (`vol_…`, `snp_…`, `sbx_…`); never a name,
 *   since names have no `_`.
 * - **rule**: a check of one value (or of fields that go together) that needs nothing but
 *   the value. `check…` functions return a {@link RuleFailure}, or `undefined` when the
 *   value follows the rule.
 * - **limit**: the daemon's configured bounds (capacity, memory, cpus, timeout): checked
 *   by the daemon only, as they differ from host to host.
 *
 * @example
 * ```ts
 * import { checkSlug } from "@strata/api/rules";
 * checkSlug("api-env-v1.0.0"); // undefined: a valid name
 * checkSlug("-x");             // { code: "invalid_slug", message: 'Invalid slug "-x": a slug is 2–63 characters …' }
 * ```
 */
import type { ErrorCode } from "./errors.ts";
import { parseDuration, parseSize } from "./sizes.ts";

// Mount paths, labels, environment and snapshot schedules.
export * from "./rules-sandbox.ts";

/** A broken rule: the catalogue code the API answers with, and a message quoting the value. */
export interface RuleFailure {
  code: ErrorCode;
  message: string;
}

const q = (value: unknown): string => JSON.stringify(value);
const fail = (code: ErrorCode, message: string): RuleFailure => ({ code, message });

// ---------------------------------------------------------------------------------------
// Names

/** Shortest and longest name. */
export const NAME_LENGTH = { min: 2, max: 63 } as const;

/** The naming rule of volumes, volume snapshots and sandbox snapshots, in words. */
export const NAME_RULES =
  "2–63 characters of lowercase letters, digits, '-' and '.'; the first and last a letter or digit; no '--' at positions 3–4 and no '..'";

/**
 * {@link NAME_RULES} as one regular expression (for JSON Schema's `pattern`): a letter or
 * digit, up to 61 of `[a-z0-9.-]`, a letter or digit; not `--` at index 2–3 (so names do
 * not look like IDNA `xn--` labels), never `..`.
 */
export const NAME_PATTERN = /^(?!.{2}--)(?!.*\.\.)[a-z0-9][a-z0-9.-]{0,61}[a-z0-9]$/;

/** Whether `name` follows {@link NAME_RULES}. */
export function isName(name: string): boolean {
  return NAME_PATTERN.test(name);
}

/** A volume's or volume snapshot's `slug`: `invalid_slug` unless it follows {@link NAME_RULES}. */
export function checkSlug(slug: string): RuleFailure | undefined {
  if (!isName(slug))
    return fail("invalid_slug", `Invalid slug ${q(slug)}: a slug is ${NAME_RULES}`);
  return undefined;
}

/** A sandbox snapshot's `name`: `invalid_snapshot_name` unless it follows {@link NAME_RULES}. */
export function checkSnapshotName(name: string): RuleFailure | undefined {
  if (!isName(name))
    return fail(
      "invalid_snapshot_name",
      `Invalid snapshot name ${q(name)}: a name is ${NAME_RULES}`,
    );
  return undefined;
}

// ---------------------------------------------------------------------------------------
// Sizes and durations

/** A capacity's syntax (a whole byte count or a size string); its range is the daemon's. */
export function checkCapacity(capacity: number | string): RuleFailure | undefined {
  if (parseSize(capacity) === undefined)
    return fail(
      "invalid_capacity",
      `Invalid capacity ${q(capacity)}: give a whole number of bytes or a size such as "10GB" or "512MiB"`,
    );
  return undefined;
}

/**
 * The memory a sandbox may ask for, whatever the host: 64 MiB to 16 GiB (a daemon narrows
 * the top to its host's memory). The default is 1 GiB.
 */
export const MEMORY_LIMITS = { minBytes: 64 * 2 ** 20, maxBytes: 16 * 2 ** 30 } as const;

/** The message of a memory outside `limits` (the contract's, or a daemon's narrower ones). */
export function memoryFailure(
  memory: number | string,
  limits: { minBytes: number; maxBytes: number },
): RuleFailure {
  return fail(
    "invalid_limits",
    `Invalid memory ${q(memory)}: give a size between ${limits.minBytes / 2 ** 20} MiB and ${limits.maxBytes / 2 ** 30} GiB, e.g. "1GiB"`,
  );
}

/** A sandbox's `memory`: a size within {@link MEMORY_LIMITS}. */
export function checkMemory(memory: number | string): RuleFailure | undefined {
  const bytes = parseSize(memory);
  if (bytes === undefined || bytes < MEMORY_LIMITS.minBytes || bytes > MEMORY_LIMITS.maxBytes)
    return memoryFailure(memory, MEMORY_LIMITS);
  return undefined;
}

/** The fewest cores a sandbox may ask for; the most is the host's core count. */
export const CPUS_MIN = 0.1;

/** The message of a cpus value outside `[min, max]` (`max` undefined: the host's, unknown here). */
export function cpusFailure(cpus: number, range: { min: number; max?: number }): RuleFailure {
  return fail(
    "invalid_limits",
    range.max === undefined
      ? `Invalid cpus ${q(cpus)}: at least ${range.min}`
      : `Invalid cpus ${q(cpus)}: between ${range.min} and ${range.max}`,
  );
}

/** A sandbox's `cpus`: a finite number of at least {@link CPUS_MIN}. */
export function checkCpus(cpus: number): RuleFailure | undefined {
  if (!Number.isFinite(cpus) || cpus < CPUS_MIN) return cpusFailure(cpus, { min: CPUS_MIN });
  return undefined;
}

/** A timeout's syntax: a positive duration such as `"30m"`; its maximum is the daemon's. */
export function checkTimeout(timeout: string): RuleFailure | undefined {
  const ms = parseDuration(timeout);
  if (ms === undefined || ms <= 0)
    return fail(
      "invalid_timeout",
      `Invalid timeout ${q(timeout)}: give a duration such as "30m", "600s" or "2h"`,
    );
  return undefined;
}

/** The longest snapshot retention: ten years. */
export const RETENTION_MAX_MS = 3650 * 86_400_000;

/** An organisation's snapshot retention: `"never"`, or a duration from 1 s to 3650 d. */
export function checkRetention(retention: string): RuleFailure | undefined {
  if (retention === "never") return undefined;
  const ms = parseDuration(retention);
  if (ms === undefined || ms < 1000 || ms > RETENTION_MAX_MS)
    return fail(
      "invalid_retention",
      `Invalid retention ${q(retention)}: give a duration from "1s" to "3650d" (such as "30d" or "12h"), or "never"`,
    );
  return undefined;
}

// ---------------------------------------------------------------------------------------
// Ports

/** A TCP port: a whole number from 1 to 65535. */
export const PORT_RANGE = { min: 1, max: 65535 } as const;

/**
 * A port inside the sandbox: `invalid_port` outside {@link PORT_RANGE}. Fractions are left
 * to the type check (`invalid_request`), as they are not numbers of a port at all.
 */
export function checkPort(port: number): RuleFailure | undefined {
  if (Number.isInteger(port) && (port < PORT_RANGE.min || port > PORT_RANGE.max))
    return fail("invalid_port", `Invalid port ${q(port)}: 1–65535`);
  return undefined;
}
