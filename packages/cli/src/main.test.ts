import assert from "node:assert/strict";
import { test } from "node:test";
import type { Volume } from "@strata/sdk";
import { fakeDaemon, strata } from "./test-cli.ts";

function volume(n: number, overrides: Partial<Volume> = {}): Volume {
  return {
    id: `vol_${n}`,
    slug: `v${n}`,
    region: "local",
    status: "ready",
    failureReason: null,
    capacity: 1_000_000_000,
    usedBytes: 0,
    estimatedAllocatedSize: 0,
    estimatedFlattenedSize: 0,
    bootable: false,
    base: null,
    attachedTo: null,
    createdAt: "2025-01-01T00:00:00.000Z",
    ...overrides,
  };
}

test("strata volumes list walks every page into one table", async () => {
  await using daemon = await fakeDaemon(({ url }) => {
    const page = Number(url.searchParams.get("cursor") ?? "0");
    const next = new URL(url);
    next.searchParams.set("cursor", String(page + 1));
    const headers: Record<string, string> = {};
    if (page < 2) headers.link = `<${next.href}>; rel="next"`;
    return { json: [volume(page * 2 + 1), volume(page * 2 + 2)], headers };
  });
  const { code, stdout } = await strata(daemon.url, ["volumes", "list"]);
  assert.equal(code, 0);
  const lines = stdout.trimEnd().split("\n");
  assert.match(lines[0] ?? "", /^ID +SLUG +REGION +CAPACITY +USED +BOOTABLE +STATUS$/);
  assert.equal(lines.length, 7);
  assert.match(lines[6] ?? "", /^vol_6 +v6 +local +1 GB +0 B +no +ready$/);
});

test("strata --json volumes list --limit 3 prints at most 3 volumes as JSON", async () => {
  await using daemon = await fakeDaemon(({ url }) => ({
    json: [volume(1), volume(2), volume(3), volume(4)],
    headers: { link: `<${url.origin}/v1/volumes?cursor=x>; rel="next"` },
  }));
  const { code, stdout } = await strata(daemon.url, ["volumes", "list", "--limit", "3", "--json"]);
  assert.equal(code, 0);
  const items = JSON.parse(stdout) as Volume[];
  assert.deepEqual(
    items.map((v) => v.id),
    ["vol_1", "vol_2", "vol_3"],
  );
});

test("strata volumes create waits for a 202 volume and prints it when ready", async () => {
  let polls = 0;
  const base = { kind: "image" as const, image: "builtin:debian-13" };
  await using daemon = await fakeDaemon(({ method, url }) => {
    if (method === "POST") return { status: 202, json: volume(1, { status: "creating", base }) };
    if (url.pathname.startsWith("/v1/images/")) {
      return { json: { name: "builtin:debian-13", status: "building", phase: "unpacking" } };
    }
    polls++;
    return { json: volume(1, { status: polls > 1 ? "ready" : "creating", base }) };
  });
  const args = ["volumes", "create", "v1", "--capacity", "1GB", "--region", "local"];
  const { code, stdout, stderr } = await strata(daemon.url, [...args, "--from", base.image]);
  assert.equal(code, 0, stderr);
  assert.match(stdout, /^Status +ready$/m);
  assert.match(stderr, /building builtin:debian-13 \(unpacking\)/);
});

test("strata exits 1 with a hint when the volume does not exist", async () => {
  await using daemon = await fakeDaemon(() => ({
    status: 404,
    json: { code: "volume_not_found", message: 'No volume "nope"' },
  }));
  const { code, stderr } = await strata(daemon.url, ["volumes", "get", "nope"]);
  assert.equal(code, 1);
  assert.match(stderr, /^error: Volume "nope" not found$/m);
  assert.match(stderr, /^hint: run "strata volumes list"/m);
});

test("strata exits 1 and prints the daemon's message on an API error", async () => {
  await using daemon = await fakeDaemon(() => ({
    status: 409,
    json: { code: "slug_taken", message: 'Slug "v1" is taken', requestId: "req_1" },
  }));
  const { code, stderr } = await strata(daemon.url, ["snapshots", "create", "v1", "v1"]);
  assert.equal(code, 1);
  assert.match(stderr, /^error: Slug "v1" is taken\nhint: choose another slug/m);
  assert.doesNotMatch(stderr, /\n\s+at /);
});

test("strata doctor exits 1 when a fatal check fails", async () => {
  await using daemon = await fakeDaemon(() => ({
    json: {
      ok: false,
      checks: [{ name: "root", ok: false, severity: "fatal", detail: "uid 1000", fix: "sudo" }],
    },
  }));
  const { code, stdout } = await strata(daemon.url, ["doctor"]);
  assert.equal(code, 1);
  assert.match(stdout, /^FAIL {2}root {2}uid 1000\n {6}fix: sudo$/m);
});

test("strata exits 3 and points at npm start when the daemon is unreachable", async () => {
  const daemon = await fakeDaemon(() => ({}));
  await daemon[Symbol.asyncDispose]();
  const list = await strata(daemon.url, ["volumes", "list"]);
  assert.equal(list.code, 3);
  assert.match(list.stderr, /^error: Cannot reach the Strata daemon at http:\/\/127\.0\.0\.1:\d+/m);
  assert.match(list.stderr, /^hint: is stratad running\?.*npm start/m);
  const doctor = await strata(daemon.url, ["doctor"]);
  assert.equal(doctor.code, 3);
  assert.match(doctor.stderr, /npm start -- doctor/);
});

test("strata exits 2 on a usage error", async () => {
  const missing = await strata("http://127.0.0.1:1", ["volumes", "create", "v1"]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--capacity/);
  const badSize = await strata("http://127.0.0.1:1", [
    "volumes",
    "create",
    "v1",
    "--capacity",
    "lots",
  ]);
  assert.equal(badSize.code, 2);
  const unknown = await strata("http://127.0.0.1:1", ["volumes", "frobnicate"]);
  assert.equal(unknown.code, 2);
});

test("strata version prints the CLI's version even when the daemon is down", async () => {
  const { code, stdout } = await strata("http://127.0.0.1:1", ["version"]);
  assert.equal(code, 0);
  assert.match(stdout, /^strata {3}\d+\.\d+\.\d+$/m);
  assert.match(stdout, /^stratad {2}not reachable/m);
});
