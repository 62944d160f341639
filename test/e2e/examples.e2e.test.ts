import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, type TestContext, test } from "node:test";
import type { Sandbox, Snapshot, Volume } from "@strata/api";
import { isRoot, REPO, TestDaemon } from "./harness.ts";

/**
 * The examples in `examples/`, run as a user would (`node examples/<name>.ts`) against a
 * real daemon. Slow: they install packages from Debian's mirror and npm. `STRATA_FAST=1`
 * skips them.
 */
const skip = !isRoot ? "needs root" : process.env.STRATA_FAST === "1" ? "STRATA_FAST=1" : false;
const MINUTES = 60_000;

describe("[slow] the examples against a real stratad", { skip }, () => {
  let d: TestDaemon;
  before(async () => {
    d = await TestDaemon.start();
  });
  after(async () => {
    await d?.[Symbol.asyncDispose]();
  });

  /** Runs an example to its end; reports how long it took as a test diagnostic. */
  const runExample = (t: TestContext, name: string) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const started = performance.now();
      const child = spawn(process.execPath, [join(REPO, "examples", name)], {
        env: {
          ...process.env,
          STRATA_ENDPOINT: d.url,
          STRATA_TOKEN: d.token,
          STRATA_EXAMPLE_TAG: Math.random().toString(36).slice(2, 8),
        },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (b: Buffer) => {
        stdout += b;
      });
      child.stderr.on("data", (b: Buffer) => {
        stderr += b;
      });
      child.on("exit", (code) => {
        t.diagnostic(`${name} ran in ${((performance.now() - started) / 1000).toFixed(1)} s`);
        resolve({ code, stdout, stderr });
      });
    });

  /** The example deleted what it made, and no sandbox of it still runs. */
  const assertCleanedUp = async () => {
    assert.deepEqual((await d.api<Volume[]>("GET", "/v1/volumes")).body, []);
    assert.deepEqual((await d.api<Snapshot[]>("GET", "/v1/snapshots")).body, []);
    const running = await d.api<Sandbox[]>("GET", "/v1/sandboxes?status=ready");
    assert.deepEqual(running.body, []);
  };

  test("persistent-dataset.ts reads in a new sandbox the file an ended one wrote to the volume", {
    timeout: 10 * MINUTES,
  }, async (t) => {
    const { code, stdout, stderr } = await runExample(t, "persistent-dataset.ts");
    assert.equal(code, 0, stderr);
    const [writer] = /sandbox (sbx_\w+) wrote/.exec(stdout) ?? [];
    const [reader] = /sandbox (sbx_\w+) read 4 lines:/.exec(stdout) ?? [];
    assert.ok(writer && reader && writer !== reader, stdout);
    assert.match(stdout, /^city,temperature\nLisbon,21\.5\nOslo,4\.0\nNairobi,24\.1$/m);
    await assertCleanedUp();
  });

  test("python-explorer.ts serves a NumPy-computed page at the sandbox's URL", {
    timeout: 15 * MINUTES,
  }, async (t) => {
    const { code, stdout, stderr } = await runExample(t, "python-explorer.ts");
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^GET http:\/\/[0-9a-z]{20}-8000\.localhost:\d+\/$/m);
    assert.match(stdout, /^200 text\/html; charset=utf-8$/m);
    assert.match(stdout, /<h1>NumPy \d+\.\d+\.\d+ explorer<\/h1>/);
    const stats = /n=10000 mean=(\d+\.\d+) std=(\d+\.\d+)/.exec(stdout);
    assert.ok(stats, stdout);
    assert.ok(Math.abs(Number(stats[1]) - 170) < 1, "the mean of N(170, 8) samples");
    assert.ok(Math.abs(Number(stats[2]) - 8) < 0.5, "their standard deviation");
    await assertCleanedUp();
  });

  test("toolchain-snapshot.ts boots two sandboxes at once from one snapshot with node and tsc, isolated", {
    timeout: 20 * MINUTES,
  }, async (t) => {
    const { code, stdout, stderr } = await runExample(t, "toolchain-snapshot.ts");
    assert.equal(code, 0, `${stdout}\n${stderr}`);
    const reports = [
      ...stdout.matchAll(
        /^(sbx_\w+):\n {2}(v\d+\.\d+\.\d+)\n {2}(Version \d+\.\d+\.\d+)\n {2}(toolchain .*)$/gm,
      ),
    ];
    assert.equal(reports.length, 2, stdout);
    assert.notEqual(reports[0]?.[1], reports[1]?.[1], "two different sandboxes");
    assert.equal(reports[0]?.[4], reports[1]?.[4], "the same banner from the snapshot");
    assert.match(stdout, /visible in a: true, b: false, c \(new\): false/);
    for (const line of stdout.split("\n").filter((l) => l.startsWith("["))) t.diagnostic(line);
    await assertCleanedUp();
  });
});
