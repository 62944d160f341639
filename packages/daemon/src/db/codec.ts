/**
 * How records become columns and back: dates as ISO-8601 text, booleans as 0/1, objects
 * and arrays as JSON text. Only the repositories use these.
 */

export function toIso(d: Date): string;
export function toIso(d: Date | null): string | null;
export function toIso(d: Date | null): string | null {
  return d === null ? null : d.toISOString();
}

export function fromIso(s: string): Date;
export function fromIso(s: string | null): Date | null;
export function fromIso(s: string | null): Date | null {
  return s === null ? null : new Date(s);
}

export function toFlag(b: boolean): number {
  return b ? 1 : 0;
}

export function fromFlag(n: number | bigint): boolean {
  return Number(n) !== 0;
}

export function toJson(value: unknown): string {
  return JSON.stringify(value);
}

/** Parses a JSON column the repositories wrote; the type is what they wrote there. */
export function fromJson<T>(text: string): T;
export function fromJson<T>(text: string | null): T | null;
export function fromJson<T>(text: string | null): T | null {
  return text === null ? null : (JSON.parse(text) as T);
}
