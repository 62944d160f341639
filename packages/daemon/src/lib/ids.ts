import { randomBytes } from "node:crypto";

const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"; // Crockford base32, lower case

/** A new random id such as `vol_3k9x…` (prefix + 20 base32 characters, 100 bits). */
export function newId(prefix: string): string {
  const bytes = randomBytes(20);
  let s = "";
  for (const b of bytes) s += ALPHABET[b & 31];
  return `${prefix}_${s}`;
}

/** Whether `s` has the shape of an id made by {@link newId} with that prefix. */
export function isId(prefix: string, s: string): boolean {
  return new RegExp(`^${prefix}_[0-9a-hjkmnp-tv-z]{20}$`).test(s);
}
