import assert from "node:assert/strict";
import { test } from "node:test";
import type { Sandbox as SandboxInfo } from "@strata/api";
import { Client } from "./client.ts";
import { eventFixture, sandboxFixture, startFakeDaemon } from "./test-server.ts";

const TOKEN = "stk_test";
const ID = "sbx_0123456789abcdefghij";

test("sandboxes.create() sends the restore, persistence and snapshot schedule options", async () => {
  await using daemon = await startFakeDaemon(() => ({
    status: 201,
    json: sandboxFixture({ persistent: true, diskBytes: 20e9, snapshotMode: "automatic" }),
  }));
  const client = new Client({ endpoint: daemon.url, token: TOKEN });
  const options = {
    fromSnapshot: "deps-installed",
    persistent: true,
    persistentDiskGB: 20,
    snapshotMode: "automatic",
    snapshotFrequency: "*/5 * * * *",
    snapshotKeep: 3,
  } as const;
  const sandbox = await client.sandboxes.create(options);
  assert.deepEqual(daemon.requests[0]?.body, options);
  assert.equal(sandbox.info.persistent, true);
});

/** A daemon whose sandbox moves through the status each lifecycle action leads to. */
async function lifecycleDaemon() {
  let info: SandboxInfo = sandboxFixture({ persistent: true });
  const next: Record<string, Partial<SandboxInfo>> = {
    pause: { status: "paused" },
    resume: { status: "ready" },
    stop: { status: "stopped", startable: true, stopReason: "stopped" },
    start: { status: "ready", startable: false, stopReason: null },
  };
  return startFakeDaemon((req) => {
    const action = req.url.pathname.match(/^\/v1\/sandboxes\/[^/]+\/(\w+)$/)?.[1];
    if (req.method === "POST" && action && next[action]) {
      info = { ...info, ...next[action] };
    }
    return { json: info };
  });
}

test("pause(), resume(), stop() and start() post the action and update the handle", async () => {
  await using daemon = await lifecycleDaemon();
  const client = new Client({ endpoint: daemon.url, token: TOKEN });
  const sandbox = (await client.sandboxes.get(ID))!;
  daemon.requests.length = 0;

  assert.equal((await sandbox.pause()).status, "paused");
  assert.equal(sandbox.status, "paused");
  await sandbox.resume();
  assert.equal(sandbox.status, "ready");
  await sandbox.stop();
  assert.equal(sandbox.status, "stopped");
  assert.equal(sandbox.info.startable, true);
  const started = await sandbox.start();
  assert.equal(started.status, "ready");
  assert.equal(sandbox.info, started);

  assert.deepEqual(
    daemon.requests.map((r) => `${r.method} ${r.url.pathname}`),
    ["pause", "resume", "stop", "start"].map((a) => `POST /v1/sandboxes/${ID}/${a}`),
  );
});

test("stop() of an ephemeral sandbox rejects with sandbox_not_persistent and keeps the handle's info", async () => {
  await using daemon = await startFakeDaemon((req) =>
    req.method === "POST"
      ? {
          status: 409,
          json: { code: "sandbox_not_persistent", message: `Cannot stop sandbox ${ID}` },
        }
      : { json: sandboxFixture() },
  );
  const client = new Client({ endpoint: daemon.url, token: TOKEN });
  const sandbox = (await client.sandboxes.get(ID))!;
  await assert.rejects(sandbox.stop(), { name: "ApiError", code: "sandbox_not_persistent" });
  assert.equal(sandbox.status, "ready");
});

test("sandbox.events() lists the sandbox's events, filtered by type", async () => {
  await using daemon = await startFakeDaemon((req) =>
    req.url.pathname.endsWith("/events")
      ? { json: [eventFixture({ type: "snapshot.skipped", message: "skipped: paused" })] }
      : { json: sandboxFixture() },
  );
  const client = new Client({ endpoint: daemon.url, token: TOKEN });
  const sandbox = (await client.sandboxes.get(ID))!;
  const page = await sandbox.events({ type: "snapshot.skipped", limit: 500 });
  assert.deepEqual(
    page.items.map((e) => e.message),
    ["skipped: paused"],
  );
  const req = daemon.requests.at(-1)!;
  assert.equal(req.url.pathname, `/v1/sandboxes/${ID}/events`);
  assert.deepEqual(Object.fromEntries(req.url.searchParams), {
    type: "snapshot.skipped",
    limit: "500",
  });
});
