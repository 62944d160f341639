import { checkCapacity, formatSize, parseSize, type RuleFailure } from "@strata/api";
import { q, StrataError } from "../errors.ts";

/**
 * Throws a broken rule of `@strata/api/rules` as the StrataError the API answers with.
 * The schemas apply the rules to every request; services call this only where they parse
 * a value the rule guards, so that they stay total for callers that bypass HTTP.
 */
export function enforce(failure: RuleFailure | undefined): void {
  if (failure) throw new StrataError(failure.code, failure.message);
}

export interface CapacityLimits {
  minBytes: number;
  maxBytes: number;
}

/** Parses a capacity (bytes or a size string) and checks it against the daemon's limits. */
export function parseCapacity(input: number | string, limits: CapacityLimits): number {
  enforce(checkCapacity(input));
  const bytes = parseSize(input)!;
  if (bytes < limits.minBytes || bytes > limits.maxBytes) {
    throw new StrataError(
      "invalid_capacity",
      `Invalid capacity ${q(input)}: it must be between ${formatSize(limits.minBytes)} and ${formatSize(limits.maxBytes)}`,
    );
  }
  return bytes;
}

/** Checks that the daemon serves `region`. */
export function validateRegion(region: string, served: readonly string[]): void {
  if (!served.includes(region)) {
    throw new StrataError(
      "invalid_region",
      `Unknown region ${q(region)}: this daemon serves ${served.map((r) => q(r)).join(", ")}`,
    );
  }
}
