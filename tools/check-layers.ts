#!/usr/bin/env node
/**
 * Checks that imports point one way only:
 *
 *   daemon:  http → service → storage | runtime | network | db | images | host
 *            everything may use lib/ and errors.ts; only the composition root
 *            (main.ts, daemon.ts, config.ts) may import any layer.
 *   cli → sdk → api;  no package but the daemon imports the daemon.
 *
 * Exits 1 listing every import that breaks the rule.
 */
import { readdir, readFile } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "..");
const DAEMON = join(ROOT, "packages/daemon/src");

/** For each daemon layer, the layers it may import. */
const DAEMON_RULES: Record<string, readonly string[]> = {
  http: ["http", "service", "lib", "errors"],
  service: ["service", "storage", "runtime", "network", "db", "images", "lib", "errors"],
  storage: ["storage", "lib", "errors"],
  runtime: ["runtime", "storage", "network", "lib", "errors"],
  network: ["network", "lib", "errors"],
  db: ["db", "lib", "errors"],
  images: ["images", "lib", "errors"],
  host: ["host", "lib", "errors"],
  testing: ["testing", "storage", "lib", "errors"],
  lib: ["lib"],
  errors: ["lib"],
};
const ROOT_FILES = new Set(["main", "daemon", "config"]);

/** Which npm workspace packages each package may import. */
const PACKAGE_RULES: Record<string, readonly string[]> = {
  api: [],
  sdk: ["@strata/api", "@strata/api/rules", "@strata/api/sizes", "@strata/api/values"],
  // @strata/sdk/testing: the SDK's fake daemon and wire fixtures, for the CLI's tests.
  cli: [
    "@strata/sdk",
    "@strata/sdk/testing",
    "@strata/api",
    "@strata/api/rules",
    "@strata/api/sizes",
    "@strata/api/values",
  ],
  daemon: ["@strata/api"],
};

const IMPORT_RE =
  /^\s*(?:import|export)\s[^;]*?from\s+["']([^"']+)["']|^\s*import\s+["']([^"']+)["']/gm;

async function* walk(dir: string): AsyncGenerator<string> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== "node_modules") yield* walk(p);
    } else if (e.name.endsWith(".ts")) yield p;
  }
}

function layerOf(file: string): string | undefined {
  const rel = relative(DAEMON, file);
  if (rel.startsWith("..")) return undefined;
  const first = rel.split("/")[0]!.replace(/\.ts$/, "");
  return first;
}

const problems: string[] = [];
for (const pkg of Object.keys(PACKAGE_RULES)) {
  const src = join(ROOT, "packages", pkg, "src");
  for await (const file of walk(src)) {
    const text = await readFile(file, "utf8");
    const isTest = file.endsWith(".test.ts");
    for (const m of text.matchAll(IMPORT_RE)) {
      const spec = m[1] ?? m[2] ?? "";
      const where = relative(ROOT, file);
      if (spec.startsWith("@strata/")) {
        if (!PACKAGE_RULES[pkg]!.includes(spec))
          problems.push(`${where}: package ${pkg} may not import ${spec}`);
        continue;
      }
      if (!spec.startsWith(".")) continue;
      const target = resolve(dirname(file), spec);
      if (!target.startsWith(join(ROOT, "packages", pkg, "/"))) {
        problems.push(`${where}: imports ${spec}, outside its package`);
        continue;
      }
      if (pkg !== "daemon" || isTest) continue;
      const from = layerOf(file)!;
      const to = layerOf(target)!;
      if (ROOT_FILES.has(from)) continue;
      if (ROOT_FILES.has(to)) {
        problems.push(`${where}: layer ${from} imports the composition root (${spec})`);
        continue;
      }
      const allowed = DAEMON_RULES[from];
      if (!allowed)
        problems.push(`${where}: unknown daemon layer "${from}"; add it to tools/check-layers.ts`);
      else if (!allowed.includes(to))
        problems.push(`${where}: layer ${from} may not import layer ${to} (${spec})`);
    }
  }
}
if (problems.length) {
  process.stderr.write(
    `Import direction violations:\n${problems.map((p) => `  ${p}`).join("\n")}\n`,
  );
  process.exit(1);
}
process.stdout.write("check-layers: imports point one way\n");
