/** Summaries of timings and a plain-text table, for the benchmark's printout. */

export interface Summary {
  median: number;
  min: number;
  max: number;
  n: number;
}

/** Median (mean of the middle two for an even count), min and max; `null` for no samples. */
export function summarise(samples: readonly number[]): Summary | null {
  if (samples.length === 0) return null;
  const s = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]!, n: s.length };
}

/** Milliseconds, one decimal below 100 ms: `12.3`, `25213`. */
export function formatMs(ms: number): string {
  return ms.toFixed(ms >= 100 ? 0 : 1);
}

/** `min–max (n)` of a summary in milliseconds, or `—`. */
export function formatRange(s: Summary | null): string {
  return s ? `${formatMs(s.min)}–${formatMs(s.max)} (n=${s.n})` : "—";
}

/** `a / b` as `×1.23`, or `—` when either is missing. */
export function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || b === 0) return "—";
  return `×${(a / b).toFixed(a / b >= 100 ? 0 : 2)}`;
}

/** Binary-unit sizes (the benchmark's data sizes are MiB and GiB). */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = bytes;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 2)} ${units[i]}`;
}

/** A boxed table of strings; numeric-looking cells are right-aligned. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const numeric = (s: string) => /^[×\d—]/.test(s);
  const line = (cells: readonly string[]) =>
    `│ ${widths
      .map((w, i) => {
        const c = cells[i] ?? "";
        return numeric(c) ? c.padStart(w) : c.padEnd(w);
      })
      .join(" │ ")} │`;
  const rule = (l: string, m: string, r: string) =>
    `${l}${widths.map((w) => "─".repeat(w + 2)).join(m)}${r}`;
  return [
    rule("┌", "┬", "┐"),
    line(header),
    rule("├", "┼", "┤"),
    ...rows.map(line),
    rule("└", "┴", "┘"),
  ].join("\n");
}

/**
 * The nearest-rank percentile (`q` from 0 to 1): the smallest sample with at least a `q`
 * share of the samples at or below it. With 100 samples p99 is the second largest; with
 * fewer than 100 it is the largest. `undefined` for no samples.
 */
export function percentile(samples: readonly number[], q: number): number | undefined {
  if (samples.length === 0) return undefined;
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.min(s.length, Math.max(1, Math.ceil(q * s.length))) - 1];
}

/** The median of samples, `undefined` for none. */
export function median(samples: readonly number[]): number | undefined {
  return summarise(samples)?.median;
}

/** Milliseconds or `—`. */
export function msOrDash(ms: number | undefined): string {
  return ms === undefined ? "—" : formatMs(ms);
}

/** The daemon's logged warnings and errors for a part's printout: alike ones grouped, ids masked. */
export function problemLines(problems: readonly string[]): string[] {
  if (problems.length === 0) return [];
  const counts = new Map<string, number>();
  for (const p of problems) {
    const key = p.replace(/(sbx|req|vol|snap|img)_[0-9a-z]{8,}/g, "$1_…");
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const grouped = [...counts].sort((a, b) => b[1] - a[1]);
  return [
    "",
    `stratad logged ${problems.length} warnings or errors${grouped.length > 10 ? " (10 most frequent kinds)" : ""}:`,
    ...grouped.slice(0, 10).map(([p, n]) => `  ${n > 1 ? `${n} × ` : ""}${p}`),
  ];
}
