import { formatSize, parseSize, SLUG_RULES } from "@strata/api";
import { q, StrataError } from "../errors.ts";

const SLUG_RE = /^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/;

/** Checks a volume or snapshot slug against the documented rules. */
export function validateSlug(slug: string): void {
  if (slug.length < 2 || !SLUG_RE.test(slug) || slug.slice(2, 4) === "--") {
    throw new StrataError("invalid_slug", `Invalid slug ${q(slug)}: a slug is ${SLUG_RULES}`);
  }
}

export interface CapacityLimits {
  minBytes: number;
  maxBytes: number;
}

/** Parses a capacity (bytes or a size string) and checks it against the daemon's limits. */
export function parseCapacity(input: number | string, limits: CapacityLimits): number {
  const bytes = parseSize(input);
  if (bytes === undefined) {
    throw new StrataError(
      "invalid_capacity",
      `Invalid capacity ${q(input)}: give a whole number of bytes or a size such as "10GB" or "512MiB"`,
    );
  }
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
