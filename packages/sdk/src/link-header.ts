import { StrataError } from "./errors.ts";

/**
 * Reads the `cursor` query parameter of the `rel="next"` URL in a `Link` header;
 * `null` when there is no next link.
 *
 * @example
 * ```ts
 * parseNextCursor('<http://127.0.0.1:7070/v1/volumes?limit=2&cursor=abc>; rel="next"', base); // "abc"
 * ```
 */
export function parseNextCursor(header: string | null, base: string): string | null {
  if (!header) return null;
  for (const part of splitLinks(header)) {
    const m = /^\s*<([^>]*)>(.*)$/s.exec(part);
    if (!m) continue;
    const params = (m[2] ?? "").split(";").map((p) => p.trim());
    const isNext = params.some((p) => {
      const rel = /^rel\s*=\s*"?([^"]*)"?$/i.exec(p);
      return rel?.[1]?.split(/\s+/).includes("next") ?? false;
    });
    if (!isNext) continue;
    let url: URL;
    try {
      url = new URL(m[1] ?? "", base);
    } catch {
      throw new StrataError("invalid_response", `Invalid next-page URL in Link header: ${header}`);
    }
    const cursor = url.searchParams.get("cursor");
    if (!cursor) {
      throw new StrataError(
        "invalid_response",
        `The next-page URL in the Link header has no cursor parameter: ${header}`,
      );
    }
    return cursor;
  }
  return null;
}

/** Splits on the commas between links, not those inside `<...>`. */
function splitLinks(header: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < header.length; i++) {
    const c = header[i];
    if (c === "<") depth++;
    else if (c === ">") depth = Math.max(0, depth - 1);
    else if (c === "," && depth === 0) {
      parts.push(header.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(header.slice(start));
  return parts;
}
