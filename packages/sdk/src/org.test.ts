import assert from "node:assert/strict";
import { test } from "node:test";
import type { Event } from "@strata/api";
import { Client } from "./client.ts";
import { eventFixture, startFakeDaemon } from "./test-server.ts";

const TOKEN = "stk_test";

test("org.get() and org.update() read and patch the organisation's settings", async () => {
  let retention = "30d";
  await using daemon = await startFakeDaemon((req) => {
    if (req.method === "PATCH")
      retention = (req.body as { snapshotRetention: string }).snapshotRetention;
    return { json: { id: "org_1", name: "default", snapshotRetention: retention } };
  });
  const client = new Client({ endpoint: daemon.url, token: TOKEN });
  assert.equal((await client.org.get()).snapshotRetention, "30d");
  const org = await client.org.update({ snapshotRetention: "never" });
  assert.deepEqual(org, { id: "org_1", name: "default", snapshotRetention: "never" });
  assert.deepEqual(
    daemon.requests.map((r) => [`${r.method} ${r.url.pathname}`, r.body]),
    [
      ["GET /v1/org", undefined],
      ["PATCH /v1/org", { snapshotRetention: "never" }],
    ],
  );
});

test("org.update() rejects an invalid retention with invalid_retention", async () => {
  await using daemon = await startFakeDaemon(() => ({
    status: 400,
    json: { code: "invalid_retention", message: 'Invalid retention "soon"' },
  }));
  const client = new Client({ endpoint: daemon.url, token: TOKEN });
  await assert.rejects(client.org.update({ snapshotRetention: "soon" }), {
    name: "ApiError",
    code: "invalid_retention",
  });
});

test("events.list() filters by type and sandbox and walks every page, oldest first", async () => {
  const pages: Record<string, { items: Event[]; next?: string }> = {
    "": { items: [eventFixture({ id: "evt_1" })], next: "c2" },
    c2: { items: [eventFixture({ id: "evt_2", type: "sandbox.resumed" })] },
  };
  await using daemon = await startFakeDaemon((req) => {
    const page = pages[req.url.searchParams.get("cursor") ?? ""]!;
    const next = new URL(req.url);
    if (page.next) next.searchParams.set("cursor", page.next);
    const headers: Record<string, string> = {};
    if (page.next) headers.link = `<${next.href}>; rel="next"`;
    return { json: page.items, headers };
  });
  const client = new Client({ endpoint: daemon.url, token: TOKEN });
  const ids: string[] = [];
  const list = await client.events.list({ type: "sandbox.paused", sandbox: "sbx_1", limit: 1 });
  for await (const e of list) ids.push(e.id);
  assert.deepEqual(ids, ["evt_1", "evt_2"]);
  for (const r of daemon.requests) {
    assert.equal(r.url.pathname, "/v1/events");
    assert.equal(r.url.searchParams.get("type"), "sandbox.paused");
    assert.equal(r.url.searchParams.get("sandbox"), "sbx_1");
    assert.equal(r.url.searchParams.get("limit"), "1");
    assert.equal(r.url.searchParams.has("search"), false, "the events query is strict");
  }
});
