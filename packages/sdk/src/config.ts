import { StrataError } from "./errors.ts";

/** Where clients connect when neither the options nor `STRATA_ENDPOINT` say. */
export const DEFAULT_ENDPOINT = "http://127.0.0.1:7070";

/** The daemon's data dir when `STRATA_DATA_DIR` is unset; it holds `admin.token`. */
export const DEFAULT_DATA_DIR = "/var/lib/strata";

/** The environment, or an empty one where there is no `process` (browsers). */
export function env(): Record<string, string | undefined> {
  return typeof process === "undefined" ? {} : process.env;
}

/** Picks the endpoint (option, then `STRATA_ENDPOINT`, then the default) and checks it. */
export function resolveEndpoint(explicit: string | undefined): string {
  const raw = explicit ?? nonEmpty(env().STRATA_ENDPOINT) ?? DEFAULT_ENDPOINT;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new StrataError(
      "invalid_endpoint",
      `Invalid endpoint ${JSON.stringify(raw)}: expected an absolute URL such as ${DEFAULT_ENDPOINT}`,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new StrataError(
      "invalid_endpoint",
      `Invalid endpoint ${JSON.stringify(raw)}: the protocol must be http or https`,
    );
  }
  return url.href.replace(/\/+$/, "");
}

/** The admin token file the daemon writes on first start. */
export function adminTokenFile(): string {
  const dir = nonEmpty(env().STRATA_DATA_DIR) ?? DEFAULT_DATA_DIR;
  return `${dir.replace(/\/+$/, "")}/admin.token`;
}

/**
 * Finds a token: `STRATA_TOKEN`, then the admin token file when readable. Throws
 * `missing_token` when there is none; the message names every place it looked.
 */
export async function discoverToken(): Promise<string> {
  const fromEnv = nonEmpty(env().STRATA_TOKEN);
  if (fromEnv) return fromEnv;
  const file = adminTokenFile();
  let why = "it does not exist";
  if (typeof process !== "undefined") {
    try {
      // Loaded lazily so the SDK still imports where node:fs does not exist.
      const { readFile } = await import("node:fs/promises");
      const token = (await readFile(file, "utf8")).split("\n")[0]?.trim();
      if (token) return token;
      why = "it is empty";
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code === "EACCES" || code === "EPERM") why = "it is not readable by this user";
      else if (code !== "ENOENT") why = err instanceof Error ? err.message : String(err);
    }
  }
  throw new StrataError(
    "missing_token",
    `No API token: pass a token, set STRATA_TOKEN, or run where the admin token file ${file} is readable (${why})`,
  );
}

function nonEmpty(value: string | undefined): string | undefined {
  const v = value?.trim();
  return v ? v : undefined;
}
