import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { test } from "node:test";
import { CLIENT_ERROR_CODES, ERROR_CODES } from "@strata/api";

const DAEMON = join(import.meta.dirname, "..");
const API = join(import.meta.dirname, "../../../api/src");

async function* sources(dir: string): AsyncGenerator<string> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) yield* sources(path);
    else if (e.name.endsWith(".ts") && !e.name.endsWith(".test.ts")) yield path;
  }
}

/**
 * Where each code is produced: `new StrataError("code", …)` in the daemon (services,
 * driver mapping, HTTP layer), or a rule failure of `@strata/api/rules` (`fail("code", …)`,
 * `code: "code"`), which the schemas apply to every request.
 */
async function producers(): Promise<Map<string, string[]>> {
  const found = new Map<string, string[]>();
  const files = [];
  for await (const f of sources(DAEMON)) files.push(f);
  for await (const f of sources(API)) if (/\/rules(-[a-z-]+)?\.ts$/.test(f)) files.push(f);
  for (const file of files) {
    const text = await readFile(file, "utf8");
    for (const m of text.matchAll(/(?:StrataError\(|\bfail\(|\bcode: )\s*"([a-z_]+)"/g))
      found.set(m[1]!, [...(found.get(m[1]!) ?? []), relative(join(DAEMON, "../.."), file)]);
  }
  return found;
}

// Codes only clients raise live apart, in CLIENT_ERROR_CODES (the catalogue's client-only
// table), so every code of ERROR_CODES must have a producer here.
test("every code of the daemon's catalogue is thrown somewhere in the daemon or its schemas", async () => {
  const found = await producers();
  // The scan must see what is known to be there, or it proves nothing.
  assert.ok(found.get("sandbox_start_failed")?.includes("daemon/src/service/driver-errors.ts"));
  assert.ok(found.get("invalid_slug")?.includes("api/src/rules.ts"));
  const missing = Object.keys(ERROR_CODES).filter((c) => !found.has(c));
  assert.deepEqual(missing, [], `catalogued but never thrown: ${missing.join(", ")}`);
});

test("the daemon throws only catalogued codes, and none of the clients' own", async () => {
  for (const [code, where] of await producers()) {
    assert.ok(code in ERROR_CODES, `${code} (in ${where.join(", ")}) is not in the catalogue`);
    assert.ok(!(code in CLIENT_ERROR_CODES), `${code} is a client-side code`);
  }
});
