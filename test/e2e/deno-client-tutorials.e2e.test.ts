import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, type TestContext, test } from "node:test";
import type { Sandbox, Snapshot, Volume } from "@strata/api";
import { fetchSandboxUrl, useDaemon } from "./deno-harness.ts";
import { isRoot, REPO, TestDaemon } from "./harness.ts";

/**
 * Deno Sandbox's own tutorials, written as Deno's docs write them
 * (test/e2e/fixtures/deno-tutorials), run with the official client against stratad
 * `--region ord`: only the environment points them at it. The toolchain snapshot and the
 * Python app install packages inside sandboxes and are `[slow]` (`STRATA_FAST=1` skips
 * them); the volumes page is quick.
 */
const MINUTES = 60_000;
const TUTORIALS = join(REPO, "test/e2e/fixtures/deno-tutorials");

function run(
  t: TestContext,
  d: TestDaemon,
  name: string,
  tag: string,
): ChildProcess & { done: Promise<{ code: number | null; stdout: string; stderr: string }> } {
  useDaemon(d);
  const started = performance.now();
  const child = spawn(process.execPath, [join(TUTORIALS, name)], {
    cwd: REPO,
    env: { ...process.env, DENO_TUTORIAL_TAG: tag },
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
  const done = once(child, "exit").then(([code]) => {
    t.diagnostic(`${name} ran in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    return { code: code as number | null, stdout, stderr };
  });
  return Object.assign(child, { done });
}

describe("Deno's tutorials through the official client", { skip: !isRoot && "needs root" }, () => {
  let d: TestDaemon;
  before(async () => {
    d = await TestDaemon.start(["--region", "ord"]);
  });
  after(async () => {
    await d?.[Symbol.asyncDispose]();
  });

  const volume = async (slug: string) => d.api<Volume>("GET", `/v1/volumes/${slug}`);

  test("the Volumes & Snapshots page: provision, search, mount a dataset in two sandboxes, delete, list snapshots", async (t) => {
    const tag = `-${Math.random().toString(36).slice(2, 6)}`;
    const { code, stdout, stderr } = await run(t, d, "volumes.ts", tag).done;
    assert.equal(code, 0, `${stdout}\n${stderr}`);
    assert.match(stdout, new RegExp(`slug: 'training-cache${tag}'`));
    assert.match(stdout, new RegExp(`^training-cache${tag} \\d+ 2000000000$`, "m"));
    assert.match(stdout, new RegExp(`^got training-cache${tag}$`, "m"));
    assert.match(stdout, /^Persist me!$/m);
    assert.equal((await volume(`training-cache${tag}`)).status, 404, "deleted");
    const dataset = (await volume(`dataset${tag}`)).body;
    assert.equal(dataset.attachedTo, null, "both sandboxes ended with the script");
    const live = await d.api<Sandbox[]>("GET", "/v1/sandboxes?status=ready");
    assert.deepEqual(live.body, []);
    assert.equal((await d.api("DELETE", `/v1/volumes/dataset${tag}`)).status, 204);
  });

  const slow = process.env.STRATA_FAST === "1" ? "STRATA_FAST=1" : false;

  test("[slow] the toolchain snapshot: Node.js, npm and TypeScript installed once, booted from the snapshot, forked", {
    skip: slow,
    timeout: 20 * MINUTES,
  }, async (t) => {
    const tag = `-${Math.random().toString(36).slice(2, 6)}`;
    const { code, stdout, stderr } = await run(t, d, "toolchain.ts", tag).done;
    assert.equal(code, 0, `${stdout.slice(-3000)}\n${stderr.slice(-3000)}`);
    assert.match(stdout, new RegExp(`^snapshot my-toolchain-snapshot${tag}$`, "m"));
    assert.match(stdout, /^Version \d+\.\d+\.\d+$/m, "tsc --version, from the snapshot");
    assert.match(stdout, /^v\d+\.\d+\.\d+$/m, "node --version, from the snapshot");
    assert.match(stdout, new RegExp(`^fork my-toolchain-fork${tag} true$`, "m"));
    assert.equal(
      (await d.api<Snapshot>("GET", `/v1/snapshots/my-toolchain-snapshot${tag}`)).status,
      404,
    );
    const fork = (await volume(`my-toolchain-fork${tag}`)).body;
    assert.equal(fork.bootable, true);
  });

  test("[slow] the Python app: packages baked into a snapshot, an app on port 8000 reached at sandbox.url", {
    skip: slow,
    timeout: 25 * MINUTES,
  }, async (t) => {
    const tag = `-${Math.random().toString(36).slice(2, 6)}`;
    const setup = await run(t, d, "setup_python.ts", tag).done;
    assert.equal(setup.code, 0, `${setup.stdout.slice(-3000)}\n${setup.stderr.slice(-3000)}`);
    assert.match(setup.stdout, /^Python 3\.\d+\.\d+$/m);
    assert.match(setup.stdout, /^Created Python snapshot snp_\w+$/m);

    const app = run(t, d, "use_python.ts", tag);
    try {
      let url = "";
      let serving = false;
      for await (const line of createInterface({ input: app.stdout! })) {
        const m = /^Mandelbrot Explorer running at (\S+)$/.exec(line);
        if (m) url = m[1]!;
        if (line === "serving on port 8000") serving = true;
        if (url && serving) break;
      }
      assert.match(url, /^https:\/\/[0-9a-z]{20}\.localhost:\d+$/);
      const page = await fetchSandboxUrl(d, url);
      assert.equal(page.status, 200);
      assert.match(page.body, /<h1>Mandelbrot Explorer<\/h1><p>numpy \d+\.\d+\.\d+, pandas \d+/);
      assert.match(page.body, /<pre>[ .:\-=+*#%@\n]+@[ .:\-=+*#%@\n]+<\/pre>/);
    } finally {
      app.kill("SIGKILL");
      await app.done;
    }
    // A 30-minute sandbox outlives its script, as on Deno Sandbox: end it.
    for (const s of (await d.api<Sandbox[]>("GET", "/v1/sandboxes?status=ready")).body)
      await d.api("DELETE", `/v1/sandboxes/${s.id}`);
  });
});
