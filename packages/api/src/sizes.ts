/**
 * Byte sizes as users write them: a number of bytes, or a string such as `"10GB"`,
 * `"512 MiB"` or `"1.5GiB"`. Decimal units (kB/KB, MB, GB, TB) are powers of 1000; binary
 * units (KiB, MiB, GiB, TiB) are powers of 1024.
 *
 * @example
 * ```ts
 * parseSize("10GB");   // 10_000_000_000
 * parseSize("1GiB");   // 1_073_741_824
 * formatSize(1_500_000_000); // "1.5 GB"
 * ```
 */

const UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

const SIZE_RE = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/;

/** Parses a size; returns `undefined` for anything that is not a whole, non-negative byte count. */
export function parseSize(input: number | string): number | undefined {
  if (typeof input === "number") {
    return Number.isSafeInteger(input) && input >= 0 ? input : undefined;
  }
  const m = SIZE_RE.exec(input);
  if (!m) return undefined;
  const [, num, unit = ""] = m;
  const factor = UNITS[unit === "" ? "b" : unit.toLowerCase()];
  if (factor === undefined) return undefined;
  const bytes = Math.round(Number(num) * factor);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** Formats bytes with a decimal unit and at most one decimal, as `deno sandbox` tables do. */
export function formatSize(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ["kB", "MB", "GB", "TB", "PB"];
  let value = bytes;
  let unit = "B";
  for (const u of units) {
    if (value < 1000) break;
    value /= 1000;
    unit = u;
  }
  const text = value >= 100 ? value.toFixed(0) : value.toFixed(1).replace(/\.0$/, "");
  return `${text} ${unit}`;
}

/** Parses a duration such as `"30m"`, `"600s"`, `"24h"`, `"1d"` or `"250ms"` into milliseconds. */
export function parseDuration(input: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/.exec(input);
  if (!m) return undefined;
  const factor = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 }[
    m[2] as "ms" | "s" | "m" | "h" | "d"
  ];
  const ms = Math.round(Number(m[1]) * factor);
  return Number.isSafeInteger(ms) ? ms : undefined;
}
