#!/usr/bin/env node
/**
 * Runs the test suite with node:test.
 *
 *   node scripts/test.ts            unit tests, then the end-to-end suite (needs root)
 *   node scripts/test.ts --unit     unit tests only: fast, mostly without root
 *   node scripts/test.ts --e2e      end-to-end tests only
 *
 * Unit tests sit next to the code as `*.test.ts`; end-to-end tests drive real stratad
 * processes, btrfs pools and (later) containers from `test/e2e/`.
 */
import { spawnSync } from "node:child_process";

const UNIT = ["packages/*/src/**/*.test.ts", "tools/**/*.test.ts", "bench/**/*.test.ts"];
const E2E = ["test/e2e/**/*.test.ts"];

const arg = process.argv[2];
const globs = arg === "--unit" ? UNIT : arg === "--e2e" ? E2E : [...UNIT, ...E2E];
const result = spawnSync(process.execPath, ["--test", "--test-reporter=spec", ...globs], {
  stdio: "inherit",
});
process.exit(result.status ?? 1);
