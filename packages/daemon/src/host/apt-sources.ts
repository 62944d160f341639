import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * The host's apt sources, read so that builtin images are built from the mirror the host
 * already uses (a local mirror or an apt proxy included) instead of a host name written
 * into Strata.
 *
 * apt reads `sources.list.d/*.sources` (deb822 stanzas) and one-line `deb` entries
 * (`sources.list`, `sources.list.d/*.list`); {@link hostDebianMirror} looks at them in
 * that order and answers the first usable URI.
 */

/** One entry of an apt source list, in either format. */
export interface AptSource {
  /** `deb`, `deb-src`. */
  types: string[];
  uris: string[];
  suites: string[];
  components: string[];
  /** False for a deb822 stanza with `Enabled: no`. */
  enabled: boolean;
}

/**
 * Parses deb822 `.sources` text: stanzas separated by blank lines, `Field: value` with
 * continuation lines, `#` comment lines, field names case-insensitive.
 *
 * @example
 * parseDeb822Sources("Types: deb\nURIs: http://mirror.example.org/debian\nSuites: trixie\nComponents: main\n");
 * // → [{ types: ["deb"], uris: ["http://mirror.example.org/debian"], suites: ["trixie"], components: ["main"], enabled: true }]
 */
export function parseDeb822Sources(text: string): AptSource[] {
  const stanzas: Map<string, string>[] = [];
  let fields = new Map<string, string>();
  let last: string | undefined;
  for (const line of text.split(/\r?\n/)) {
    if (line.startsWith("#")) continue;
    if (line.trim() === "") {
      if (fields.size) stanzas.push(fields);
      fields = new Map();
      last = undefined;
      continue;
    }
    if (/^[ \t]/.test(line)) {
      if (last !== undefined) fields.set(last, `${fields.get(last)} ${line.trim()}`);
      continue;
    }
    const m = /^([^:\s]+):(.*)$/.exec(line);
    if (!m) continue;
    last = m[1]!.toLowerCase();
    fields.set(last, m[2]!.trim());
  }
  if (fields.size) stanzas.push(fields);
  const words = (f: Map<string, string>, name: string) =>
    (f.get(name) ?? "").split(/\s+/).filter(Boolean);
  return stanzas.map((f) => ({
    types: words(f, "types"),
    uris: words(f, "uris"),
    suites: words(f, "suites"),
    components: words(f, "components"),
    enabled: !/^(no|false|off|0|disable|without)$/i.test(f.get("enabled") ?? "yes"),
  }));
}

/**
 * Parses one-line `sources.list` text: `deb [options] URI suite [component...]`, `#` to
 * the end of a line being a comment.
 *
 * @example
 * parseOneLineSources("deb [arch=amd64] http://mirror.example.org/debian trixie main\n");
 * // → [{ types: ["deb"], uris: ["http://mirror.example.org/debian"], suites: ["trixie"], components: ["main"], enabled: true }]
 */
export function parseOneLineSources(text: string): AptSource[] {
  const out: AptSource[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/#.*/, "").trim();
    const m = /^(deb|deb-src)\s+(?:\[[^\]]*\]\s*)?(\S+)\s+(\S+)(.*)$/.exec(line);
    if (!m) continue;
    out.push({
      types: [m[1]!],
      uris: [m[2]!],
      suites: [m[3]!],
      components: m[4]!.split(/\s+/).filter(Boolean),
      enabled: true,
    });
  }
  return out;
}

// A Debian archive names its suites after releases; third-party repositories (nodesource's
// "nodistro", a vendor's "any-version") do not, and a security archive has only "-security".
const DEBIAN_SUITE =
  /^(stable|testing|unstable|sid|experimental|oldstable|oldoldstable|squeeze|wheezy|jessie|stretch|buster|bullseye|bookworm|trixie|forky|duke)(-updates|-backports|-proposed-updates)?$/;

/**
 * The first source that can serve as the mirror of a Debian archive: enabled, binary
 * (`deb`), an `http`, `https` or `file` URI, and a suite that names a Debian release.
 */
export function debianMirrorOf(sources: readonly AptSource[]): string | undefined {
  for (const s of sources) {
    if (!s.enabled || !s.types.includes("deb")) continue;
    if (!s.suites.some((suite) => DEBIAN_SUITE.test(suite))) continue;
    const uri = s.uris.find((u) => /^(https?|file):/.test(u));
    if (uri) return uri;
  }
  return undefined;
}

/**
 * The Debian mirror the host's apt uses: the first usable entry of
 * `<aptDir>/sources.list.d/*.sources`, then `<aptDir>/sources.list`, then
 * `<aptDir>/sources.list.d/*.list` (files in name order). Undefined when none is usable.
 * Synchronous: it runs once, while the daemon's configuration is resolved.
 */
export function hostDebianMirror(aptDir = "/etc/apt"): string | undefined {
  const read = (path: string) => {
    try {
      return readFileSync(path, "utf8");
    } catch {
      return "";
    }
  };
  let parts: string[] = [];
  try {
    parts = readdirSync(join(aptDir, "sources.list.d")).sort();
  } catch {}
  const listDir = join(aptDir, "sources.list.d");
  const sources = [
    ...parts
      .filter((f) => f.endsWith(".sources"))
      .flatMap((f) => parseDeb822Sources(read(join(listDir, f)))),
    ...parseOneLineSources(read(join(aptDir, "sources.list"))),
    ...parts
      .filter((f) => f.endsWith(".list"))
      .flatMap((f) => parseOneLineSources(read(join(listDir, f)))),
  ];
  return debianMirrorOf(sources);
}
