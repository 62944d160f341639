import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { access } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { Client } from "@strata/sdk";
import { isRoot, REPO, TestDaemon } from "./harness.ts";

const CLI = join(REPO, "packages/cli/src/main.ts");
const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  );

/** Runs the real CLI against the daemon; resolves with its exit code and output. */
function strata(
  d: TestDaemon,
  ...args: string[]
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, STRATA_ENDPOINT: d.url, STRATA_TOKEN: d.token },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b));
    child.stderr.on("data", (b: Buffer) => (stderr += b));
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("the strata CLI and the SDK against a real stratad", {
  skip: !isRoot && "needs root",
}, () => {
  test("volumes and snapshots round trip through the CLI, with tables, --json and exit codes", async () => {
    await using d = await TestDaemon.start();
    const created = await strata(d, "--json", "volumes", "create", "cli-vol", "--capacity", "1GB");
    assert.equal(created.code, 0, created.stderr);
    const vol = JSON.parse(created.stdout) as { id: string; slug: string };
    assert.equal(vol.slug, "cli-vol");
    assert.ok(await exists(join(d.poolRoot, "writable", vol.id)));

    const snap = await strata(d, "snapshots", "create", "cli-vol", "cli-snap");
    assert.equal(snap.code, 0, snap.stderr);
    const table = await strata(d, "snapshots", "list");
    assert.equal(table.code, 0);
    assert.match(table.stdout, /ID\s+SLUG\s+REGION\s+ALLOCATED/);
    assert.match(table.stdout, /cli-snap\s+local/);

    const dup = await strata(d, "volumes", "create", "cli-vol", "--capacity", "1GB");
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /error: .*"cli-vol"/);
    assert.doesNotMatch(dup.stderr, /\n\s+at /, "no stack trace without --debug");

    const missing = await strata(d, "volumes", "get", "no-such-volume");
    assert.notEqual(missing.code, 0);
    const usage = await strata(d, "volumes", "create");
    assert.equal(usage.code, 2);

    assert.equal((await strata(d, "snapshots", "delete", "cli-snap")).code, 0);
    assert.equal((await strata(d, "volumes", "delete", "cli-vol")).code, 0);
    assert.equal(await exists(join(d.poolRoot, "writable", vol.id)), false);
  });

  test("strata doctor reports the host checks and exit 3 when the daemon is unreachable", async () => {
    await using d = await TestDaemon.start();
    const doctor = await strata(d, "doctor");
    assert.equal(doctor.code, 0, doctor.stdout + doctor.stderr);
    assert.match(doctor.stdout, /kernel:btrfs/);
    await d.stop();
    const down = await strata(d, "volumes", "list");
    assert.equal(down.code, 3);
    assert.match(down.stderr, /hint:/);
  });

  test("the SDK lists across pages with async iteration and returns null for a missing volume", async () => {
    await using d = await TestDaemon.start();
    const client = new Client({ endpoint: d.url, token: d.token });
    for (const n of [1, 2, 3, 4, 5])
      await client.volumes.create({ slug: `sdk-${n}`, capacity: "1GB" });
    const slugs: string[] = [];
    for await (const v of await client.volumes.list({ limit: 2 })) slugs.push(v.slug);
    assert.deepEqual(slugs, ["sdk-1", "sdk-2", "sdk-3", "sdk-4", "sdk-5"]);
    assert.equal(await client.volumes.get("nope"), null);
    const snap = await client.volumes.snapshot("sdk-1", { slug: "sdk-1-snap" });
    assert.equal(snap.volume?.slug, "sdk-1");
  });
});
