/**
 * Sandbox ids as the official `@deno/sandbox` client wants them, `sbx_<region>_<20 chars>`
 * (it parses the region out of the id in `Sandbox.connect`), mapped to and from Strata's
 * own `sbx_<20 chars>`. Strata's alphabet (Crockford base32) is a subset of the client's
 * (`[0-9a-hjkmnp-z]`), so the 20 characters carry over unchanged.
 */

const STRATA_ID = /^sbx_([0-9a-hjkmnp-tv-z]{20})$/;
const DENO_ID = /^sbx_([a-z]{3})_([0-9a-hjkmnp-z]{20})$/;

/**
 * The three letters a daemon's region shows as in Deno-shaped ids: the region itself when
 * it is three lowercase letters (`ord`, `ams`), else `loc`.
 */
export function regionTag(region: string): string {
  return /^[a-z]{3}$/.test(region) ? region : "loc";
}

/** `sbx_<20>` → `sbx_<tag>_<20>`. */
export function toDenoId(strataId: string, tag: string): string {
  const m = STRATA_ID.exec(strataId);
  if (!m) throw new Error(`Not a Strata sandbox id: ${JSON.stringify(strataId)}`);
  return `sbx_${tag}_${m[1]}`;
}

/**
 * `sbx_<tag>_<20>` → `sbx_<20>`, or undefined when `id` does not have that form or names
 * another region. Strata's own form is accepted too, so ids from the Strata API work.
 */
export function fromDenoId(id: string, tag: string): string | undefined {
  if (id.length > 64) return undefined;
  if (STRATA_ID.test(id)) return id;
  const m = DENO_ID.exec(id);
  if (!m || m[1] !== tag || !STRATA_ID.test(`sbx_${m[2]}`)) return undefined;
  return `sbx_${m[2]}`;
}
