import assert from "node:assert/strict";
import { test } from "node:test";
import type { Snapshot } from "@strata/api";
import { Client } from "./client.ts";
import { ApiError, SnapshotFailedError, StrataError } from "./errors.ts";
import {
  type Reply,
  type SeenRequest,
  sandboxFixture,
  snapshotFixture,
  startFakeDaemon,
} from "./test-server.ts";

const TOKEN = "stk_test";
const ID = "sbx_0123456789abcdefghij";

/**
 * A daemon with one sandbox whose snapshot answers `creating` to `polls` GETs, then
 * `final`; `route` may answer other requests first.
 */
async function snapshotDaemon(
  polls: number,
  final: Partial<Snapshot>,
  route: (req: SeenRequest) => Reply | undefined = () => undefined,
) {
  let gets = 0;
  const creating = snapshotFixture({ status: "creating", sizeBytes: null, settledAt: null });
  const daemon = await startFakeDaemon((req) => {
    const own = route(req);
    if (own) return own;
    const path = `${req.method} ${req.url.pathname}`;
    if (path === `GET /v1/sandboxes/${ID}`) return { json: sandboxFixture() };
    if (path === `POST /v1/sandboxes/${ID}/snapshots`) return { status: 202, json: creating };
    if (path === "GET /v1/snapshots/snp_1" || path === "GET /v1/snapshots/snap-1") {
      gets++;
      return { json: gets > polls ? { ...creating, ...final } : creating };
    }
    return { status: 404, json: { code: "not_found", message: `No route for ${path}` } };
  });
  const client = new Client({ endpoint: daemon.url, token: TOKEN });
  return { daemon, client };
}

const snapshotGets = (requests: SeenRequest[]) =>
  requests.filter((r) => r.method === "GET" && r.url.pathname.startsWith("/v1/snapshots/"));

test("sandbox.snapshots.create() posts the name and resolves with the snapshot still creating", async () => {
  const { daemon, client } = await snapshotDaemon(0, { status: "ready" });
  await using _ = daemon;
  const sandbox = await client.sandboxes.get(ID);
  const snapshot = await sandbox!.snapshots.create({ name: "snap-1" });
  assert.equal(snapshot.status, "creating");
  const post = daemon.requests.find((r) => r.method === "POST");
  assert.equal(post?.url.pathname, `/v1/sandboxes/${ID}/snapshots`);
  assert.deepEqual(post?.body, { name: "snap-1" });
  assert.equal(snapshotGets(daemon.requests).length, 0, "no wait, no polling");
});

test("sandbox.snapshots.create() with wait polls the snapshot until it is ready", async () => {
  const { daemon, client } = await snapshotDaemon(2, { status: "ready", sizeBytes: 42 });
  await using _ = daemon;
  const sandbox = await client.sandboxes.get(ID);
  const progress: string[] = [];
  const snapshot = await sandbox!.snapshots.create(
    { name: "snap-1" },
    { wait: true, pollInterval: 5, onProgress: (s) => progress.push(s.status) },
  );
  assert.equal(snapshot.status, "ready");
  assert.equal(snapshot.sizeBytes, 42);
  const gets = snapshotGets(daemon.requests);
  assert.equal(gets.length, 3);
  for (const r of gets) assert.equal(r.url.pathname, "/v1/snapshots/snp_1");
  assert.deepEqual(progress, ["creating", "creating"]);
});

test("snapshots.waitReady() throws SnapshotFailedError with the failure reason when the snapshot fails", async () => {
  const reason = "Cannot copy the root of sbx_0123456789abcdefghij: no space left on device";
  const { daemon, client } = await snapshotDaemon(1, { status: "failed", failureReason: reason });
  await using _ = daemon;
  const err = await client.snapshots.waitReady("snap-1", { pollInterval: 5 }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof SnapshotFailedError);
  assert.ok(err instanceof StrataError);
  assert.ok(!(err instanceof ApiError), "the SDK raised it, the daemon answered 200");
  assert.equal(err.code, "snapshot_failed");
  assert.equal(err.failureReason, reason);
  assert.equal(err.snapshot.status, "failed");
  assert.equal(err.message, `Snapshot "snap-1" (snp_1) failed: ${reason}`);
});

test("sandbox.snapshots.create() with wait throws SnapshotFailedError when the snapshot fails", async () => {
  const { daemon, client } = await snapshotDaemon(0, { status: "failed", failureReason: "EIO" });
  await using _ = daemon;
  const sandbox = await client.sandboxes.get(ID);
  await assert.rejects(
    sandbox!.snapshots.create({ name: "snap-1" }, { wait: true, pollInterval: 5 }),
    { name: "SnapshotFailedError", code: "snapshot_failed", failureReason: "EIO" },
  );
});

test("snapshots.waitReady() returns a snapshot that is already ready after one GET", async () => {
  const { daemon, client } = await snapshotDaemon(0, { status: "ready" });
  await using _ = daemon;
  const snapshot = await client.snapshots.waitReady("snap-1");
  assert.equal(snapshot.status, "ready");
  assert.deepEqual(
    snapshotGets(daemon.requests).map((r) => r.url.pathname),
    ["/v1/snapshots/snap-1"],
  );
});

test("snapshots.waitReady() throws wait_timeout when the snapshot is still creating at the deadline", async () => {
  const { daemon, client } = await snapshotDaemon(Number.POSITIVE_INFINITY, {});
  await using _ = daemon;
  await assert.rejects(
    client.snapshots.waitReady("snap-1", { timeoutMs: 30, pollInterval: 5 }),
    (err: unknown) => {
      assert.ok(err instanceof StrataError);
      assert.equal(err.code, "wait_timeout");
      assert.match(err.message, /^Snapshot "snap-1" \(snp_1\) is still creating after \d+ ms$/);
      return true;
    },
  );
  assert.ok(snapshotGets(daemon.requests).length >= 2, "it polled before giving up");
});

test("snapshots.waitReady() stops waiting when its signal aborts", async () => {
  const { daemon, client } = await snapshotDaemon(Number.POSITIVE_INFINITY, {});
  await using _ = daemon;
  const controller = new AbortController();
  const pending = client.snapshots.waitReady("snap-1", {
    pollInterval: 5,
    signal: controller.signal,
    onProgress: () => controller.abort(),
  });
  await assert.rejects(pending, { name: "AbortError" });
});

test("snapshots.waitReady() rejects with snapshot_not_found for a snapshot that does not exist", async () => {
  const { daemon, client } = await snapshotDaemon(0, {}, (req) =>
    req.url.pathname === "/v1/snapshots/nope"
      ? { status: 404, json: { code: "snapshot_not_found", message: 'No snapshot "nope"' } }
      : undefined,
  );
  await using _ = daemon;
  await assert.rejects(client.snapshots.waitReady("nope"), {
    name: "ApiError",
    code: "snapshot_not_found",
  });
});

test("snapshots.list() sends the kind and sandbox filters on every page", async () => {
  await using daemon = await startFakeDaemon((req) => {
    const cursor = req.url.searchParams.get("cursor");
    const next = new URL(req.url);
    next.searchParams.set("cursor", "c2");
    return cursor
      ? { json: [snapshotFixture({ id: "snp_2", slug: "snap-2" })] }
      : { json: [snapshotFixture()], headers: { link: `<${next.href}>; rel="next"` } };
  });
  const client = new Client({ endpoint: daemon.url, token: TOKEN });
  const slugs: string[] = [];
  for await (const s of await client.snapshots.list({ kind: "sandbox", sandbox: ID })) {
    slugs.push(s.slug);
  }
  assert.deepEqual(slugs, ["snap-1", "snap-2"]);
  assert.equal(daemon.requests.length, 2);
  for (const r of daemon.requests) {
    assert.equal(r.url.pathname, "/v1/snapshots");
    assert.equal(r.url.searchParams.get("kind"), "sandbox");
    assert.equal(r.url.searchParams.get("sandbox"), ID);
  }
});

test("sandbox.snapshots.list() lists the sandbox's own snapshots", async () => {
  await using daemon = await startFakeDaemon((req) =>
    req.url.pathname.endsWith("/snapshots")
      ? { json: [snapshotFixture({ automatic: true })] }
      : { json: sandboxFixture() },
  );
  const client = new Client({ endpoint: daemon.url, token: TOKEN });
  const sandbox = await client.sandboxes.get(ID);
  const page = await sandbox!.snapshots.list({ limit: 10 });
  assert.equal(page.items[0]?.automatic, true);
  const req = daemon.requests.at(-1);
  assert.equal(req?.url.pathname, `/v1/sandboxes/${ID}/snapshots`);
  assert.equal(req?.url.searchParams.get("limit"), "10");
});

test("snapshots.update() sends only the given changes, a Date as ISO and null as null", async () => {
  await using daemon = await startFakeDaemon(() => ({ json: snapshotFixture() }));
  const client = new Client({ endpoint: daemon.url, token: TOKEN });
  await client.snapshots.update("snap-1", {
    protected: true,
    expiresAt: new Date("2030-01-02T03:04:05Z"),
  });
  await client.snapshots.update("snap-1", { expiresAt: null });
  await client.snapshots.protect("snap-1");
  await client.snapshots.unprotect("snp_1");
  assert.deepEqual(
    daemon.requests.map((r) => [`${r.method} ${r.url.pathname}`, r.body]),
    [
      ["PATCH /v1/snapshots/snap-1", { protected: true, expiresAt: "2030-01-02T03:04:05.000Z" }],
      ["PATCH /v1/snapshots/snap-1", { expiresAt: null }],
      ["PATCH /v1/snapshots/snap-1", { protected: true }],
      ["PATCH /v1/snapshots/snp_1", { protected: false }],
    ],
  );
});

test("snapshots.delete() of a protected snapshot rejects with snapshot_protected", async () => {
  await using daemon = await startFakeDaemon(() => ({
    status: 409,
    json: {
      code: "snapshot_protected",
      message: 'Cannot delete snapshot "snap-1": it is protected',
    },
  }));
  const client = new Client({ endpoint: daemon.url, token: TOKEN });
  await assert.rejects(client.snapshots.delete("snap-1"), {
    name: "ApiError",
    status: 409,
    code: "snapshot_protected",
  });
});
