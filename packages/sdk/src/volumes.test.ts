import assert from "node:assert/strict";
import { test } from "node:test";
import type { Image, Volume } from "@strata/api";
import { Client } from "./client.ts";
import { ApiError, StrataError } from "./errors.ts";
import { imageFixture, startFakeDaemon, volumeFixture } from "./test-server.ts";

const TOKEN = "stk_test";

test("volumes.list() follows Link headers across 3 pages when iterated", async () => {
  const all = [1, 2, 3, 4, 5].map((n) => volumeFixture({ id: `vol_${n}`, slug: `v${n}` }));
  const pages: Record<string, { items: Volume[]; next?: string }> = {
    "": { items: all.slice(0, 2), next: "c2" },
    c2: { items: all.slice(2, 4), next: "c3" },
    c3: { items: all.slice(4) },
  };
  await using daemon = await startFakeDaemon((req) => {
    const page = pages[req.url.searchParams.get("cursor") ?? ""];
    if (!page) return { status: 400, json: { code: "invalid_request", message: "bad cursor" } };
    const next = new URL(req.url);
    if (page.next) next.searchParams.set("cursor", page.next);
    const headers: Record<string, string> = {};
    if (page.next) headers.link = `<${next.href}>; rel="next"`;
    return { json: page.items, headers };
  });
  const client = new Client({ endpoint: daemon.url, token: TOKEN });

  const first = await client.volumes.list({ limit: 2, search: "v" });
  assert.deepEqual(
    first.items.map((v) => v.slug),
    ["v1", "v2"],
  );
  assert.equal(first.hasMore, true);
  assert.equal(first.nextCursor, "c2");

  const slugs: string[] = [];
  for await (const v of first) slugs.push(v.slug);
  assert.deepEqual(slugs, ["v1", "v2", "v3", "v4", "v5"]);

  const cursors = daemon.requests.map((r) => r.url.searchParams.get("cursor"));
  assert.deepEqual(cursors, [null, "c2", "c3"]);
  for (const r of daemon.requests) {
    assert.equal(r.url.pathname, "/v1/volumes");
    assert.equal(r.url.searchParams.get("limit"), "2");
    assert.equal(r.url.searchParams.get("search"), "v");
    assert.equal(r.headers.authorization, `Bearer ${TOKEN}`);
  }
});

test("getNextPage() returns null on the last page", async () => {
  await using daemon = await startFakeDaemon(() => ({ json: [volumeFixture()] }));
  const client = new Client({ endpoint: daemon.url, token: TOKEN });
  const page = await client.volumes.list();
  assert.equal(page.hasMore, false);
  assert.equal(page.nextCursor, null);
  assert.equal(await page.getNextPage(), null);
  assert.equal(daemon.requests.length, 1);
});

test("volumes.get() returns null when the daemon answers 404", async () => {
  await using daemon = await startFakeDaemon(() => ({
    status: 404,
    json: { code: "volume_not_found", message: 'No volume "nope"', requestId: "req_1" },
  }));
  const client = new Client({ endpoint: daemon.url, token: TOKEN });
  assert.equal(await client.volumes.get("nope"), null);
  assert.equal(daemon.requests[0]?.url.pathname, "/v1/volumes/nope");
});

test("volumes.get() throws when the 404 says the route does not exist (wrong endpoint)", async () => {
  await using daemon = await startFakeDaemon(() => ({
    status: 404,
    json: { code: "not_found", message: "No route for GET /v1/volumes/x" },
  }));
  const client = new Client({ endpoint: daemon.url, token: TOKEN });
  await assert.rejects(client.volumes.get("x"), { name: "ApiError", code: "not_found" });
});

test("volumes.get() encodes the id or slug as one path segment", async () => {
  await using daemon = await startFakeDaemon(() => ({ json: volumeFixture() }));
  const client = new Client({ endpoint: daemon.url, token: TOKEN });
  await client.volumes.get("a/b?c");
  assert.equal(daemon.requests[0]?.url.pathname, "/v1/volumes/a%2Fb%3Fc");
});

test("volumes.create() rejects with an ApiError carrying status, code, requestId and details", async () => {
  const details = [{ path: "body.capacity", message: "too small" }];
  await using daemon = await startFakeDaemon(() => ({
    status: 400,
    json: { code: "invalid_capacity", message: "Invalid capacity", requestId: "req_42", details },
  }));
  const client = new Client({ endpoint: daemon.url, token: TOKEN });
  const err = await client.volumes.create({ slug: "data", region: "local", capacity: "1B" }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof ApiError);
  assert.ok(err instanceof StrataError);
  assert.equal(err.status, 400);
  assert.equal(err.code, "invalid_capacity");
  assert.equal(err.message, "Invalid capacity");
  assert.equal(err.requestId, "req_42");
  assert.deepEqual(err.details, details);
});

test("volumes.create() sends the init and returns a volume that is ready at once", async () => {
  await using daemon = await startFakeDaemon(() => ({ status: 201, json: volumeFixture() }));
  const client = new Client({ endpoint: daemon.url, token: TOKEN });
  const volume = await client.volumes.create({ slug: "data", region: "local", capacity: "10GB" });
  assert.equal(volume.status, "ready");
  assert.equal(daemon.requests.length, 1);
  assert.equal(daemon.requests[0]?.method, "POST");
  assert.deepEqual(daemon.requests[0]?.body, { slug: "data", region: "local", capacity: "10GB" });
  assert.equal(daemon.requests[0]?.headers["content-type"], "application/json");
});

test("volumes.create() defaults the region to the daemon's, asking /v1/health once", async () => {
  await using daemon = await startFakeDaemon((req) =>
    req.url.pathname === "/v1/health"
      ? { json: { status: "ok", version: "0.1.0", region: "home" } }
      : { status: 201, json: volumeFixture({ region: "home" }) },
  );
  const client = new Client({ endpoint: daemon.url, token: TOKEN });
  await client.volumes.create({ slug: "a1", capacity: 1_000_000 });
  await client.volumes.create({ slug: "a2", capacity: 1_000_000 });
  const paths = daemon.requests.map((r) => `${r.method} ${r.url.pathname}`);
  assert.deepEqual(paths, ["GET /v1/health", "POST /v1/volumes", "POST /v1/volumes"]);
  assert.deepEqual(daemon.requests[1]?.body, { slug: "a1", region: "home", capacity: 1_000_000 });
  assert.equal(daemon.requests[0]?.headers.authorization, undefined);
});

/** A daemon whose volume is `creating` for `polls` GETs, then ends in `final`. */
async function creatingDaemon(polls: number, final: Partial<Volume>) {
  let gets = 0;
  const base = { kind: "image" as const, image: "builtin:debian-13" };
  const creating = volumeFixture({ status: "creating", base, bootable: true });
  return startFakeDaemon((req) => {
    if (req.method === "POST") return { status: 202, json: creating };
    if (req.url.pathname === "/v1/images/builtin%3Adebian-13") {
      return { json: imageFixture({ phase: `phase-${gets}` }) };
    }
    gets++;
    return { json: gets > polls ? { ...creating, ...final } : creating };
  });
}

test("volumes.create() polls a 202 volume until it is ready, reporting the image phase", async () => {
  await using daemon = await creatingDaemon(2, { status: "ready" });
  const client = new Client({ endpoint: daemon.url, token: TOKEN });
  const progress: { status: string; phase: string | null | undefined }[] = [];
  const volume = await client.volumes.create(
    { slug: "data", region: "local", capacity: "10GB", from: "builtin:debian-13" },
    {
      pollInterval: 5,
      onProgress: (v: Volume, image?: Image) =>
        progress.push({ status: v.status, phase: image?.phase }),
    },
  );
  assert.equal(volume.status, "ready");
  assert.deepEqual(progress, [
    { status: "creating", phase: "phase-0" },
    { status: "creating", phase: "phase-1" },
    { status: "creating", phase: "phase-2" },
  ]);
  const volumeGets = daemon.requests.filter((r) => r.url.pathname === "/v1/volumes/vol_1");
  assert.equal(volumeGets.length, 3);
});

test("volumes.create() throws volume_failed with the failure reason when the volume fails", async () => {
  await using daemon = await creatingDaemon(1, {
    status: "failed",
    failureReason: "mmdebstrap exited with 1",
  });
  const client = new Client({ endpoint: daemon.url, token: TOKEN });
  await assert.rejects(
    client.volumes.create(
      { slug: "data", region: "local", capacity: "10GB", from: "builtin:debian-13" },
      { pollInterval: 5 },
    ),
    (err: unknown) => {
      assert.ok(err instanceof StrataError);
      assert.equal(err.code, "volume_failed");
      assert.match(err.message, /mmdebstrap exited with 1/);
      return true;
    },
  );
});

test("volumes.create() stops waiting when its signal aborts", async () => {
  await using daemon = await creatingDaemon(Number.POSITIVE_INFINITY, {});
  const client = new Client({ endpoint: daemon.url, token: TOKEN });
  const controller = new AbortController();
  const pending = client.volumes.create(
    { slug: "data", region: "local", capacity: "10GB", from: "builtin:debian-13" },
    { pollInterval: 5, signal: controller.signal, onProgress: () => controller.abort() },
  );
  await assert.rejects(pending, { name: "AbortError" });
});

test("volumes.snapshot() posts the snapshot's slug to the volume's snapshots", async () => {
  await using daemon = await startFakeDaemon(() => ({ status: 201, json: { id: "snp_1" } }));
  const client = new Client({ endpoint: daemon.url, token: TOKEN });
  await client.volumes.snapshot("data", { slug: "data-v1" });
  const req = daemon.requests[0];
  assert.equal(`${req?.method} ${req?.url.pathname}`, "POST /v1/volumes/data/snapshots");
  assert.deepEqual(req?.body, { slug: "data-v1" });
});

test("volumes.delete() resolves on 204 and throws ApiError on 409", async () => {
  let status = 204;
  await using daemon = await startFakeDaemon(() =>
    status === 204
      ? { status }
      : { status, json: { code: "volume_in_use", message: "attached to sbx_1" } },
  );
  const client = new Client({ endpoint: daemon.url, token: TOKEN });
  await client.volumes.delete("data");
  status = 409;
  await assert.rejects(client.volumes.delete("data"), {
    name: "ApiError",
    status: 409,
    code: "volume_in_use",
  });
});
