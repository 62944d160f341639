import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, test } from "node:test";
import { Client } from "./client.ts";
import { ApiError, NetworkError, StrataError } from "./errors.ts";
import { parseNextCursor } from "./link-header.ts";
import { startFakeDaemon } from "./test-server.ts";

const ENV_KEYS = ["STRATA_ENDPOINT", "STRATA_TOKEN", "STRATA_DATA_DIR"] as const;
let savedEnv: Record<string, string | undefined> = {};
let dataDir = "";

beforeEach(async () => {
  savedEnv = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]));
  for (const k of ENV_KEYS) delete process.env[k];
  dataDir = await mkdtemp(join(tmpdir(), "strata-sdk-test-"));
  // An empty data dir, so a real /var/lib/strata/admin.token never leaks into a test.
  process.env.STRATA_DATA_DIR = dataDir;
});

afterEach(async () => {
  for (const k of ENV_KEYS) {
    const v = savedEnv[k];
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await rm(dataDir, { recursive: true, force: true });
});

const okHealth = { json: { status: "ok", version: "9.9.9", region: "local" } };

test("health() needs no token, while an authenticated call without one throws missing_token", async () => {
  await using daemon = await startFakeDaemon(() => okHealth);
  const client = new Client({ endpoint: daemon.url });
  assert.deepEqual(await client.health(), okHealth.json);
  await assert.rejects(client.volumes.list(), (err: unknown) => {
    assert.ok(err instanceof StrataError);
    assert.equal(err.code, "missing_token");
    assert.match(err.message, /STRATA_TOKEN/);
    assert.ok(err.message.includes(join(dataDir, "admin.token")));
    return true;
  });
  assert.equal(daemon.requests.length, 1);
});

test("the token comes from STRATA_TOKEN before the admin token file", async () => {
  await writeFile(join(dataDir, "admin.token"), "stk_file\n");
  process.env.STRATA_TOKEN = "stk_env";
  await using daemon = await startFakeDaemon(() => ({ json: [] }));
  await new Client({ endpoint: daemon.url }).volumes.list();
  assert.equal(daemon.requests[0]?.headers.authorization, "Bearer stk_env");
});

test("the admin token file under STRATA_DATA_DIR is read and trimmed", async () => {
  await writeFile(join(dataDir, "admin.token"), "  stk_file  \n");
  await using daemon = await startFakeDaemon(() => ({ json: [] }));
  await new Client({ endpoint: daemon.url }).snapshots.list();
  assert.equal(daemon.requests[0]?.headers.authorization, "Bearer stk_file");
});

test("the endpoint comes from STRATA_ENDPOINT and keeps a path prefix", async () => {
  await using daemon = await startFakeDaemon(() => okHealth);
  process.env.STRATA_ENDPOINT = `${daemon.url}/strata/`;
  const client = new Client();
  assert.equal(client.endpoint, `${daemon.url}/strata`);
  await client.health();
  assert.equal(daemon.requests[0]?.url.pathname, "/strata/v1/health");
});

test("the endpoint defaults to http://127.0.0.1:7070", () => {
  assert.equal(new Client().endpoint, "http://127.0.0.1:7070");
});

test("an endpoint that is not an http(s) URL throws invalid_endpoint", () => {
  assert.throws(() => new Client({ endpoint: "127.0.0.1:7070" }), { code: "invalid_endpoint" });
  assert.throws(() => new Client({ endpoint: "not a url" }), { code: "invalid_endpoint" });
});

test("a closed port gives a NetworkError naming the endpoint", async () => {
  const daemon = await startFakeDaemon(() => okHealth);
  await daemon.close();
  const client = new Client({ endpoint: daemon.url, token: "stk" });
  await assert.rejects(client.volumes.list(), (err: unknown) => {
    assert.ok(err instanceof NetworkError);
    assert.ok(err instanceof StrataError);
    assert.equal(err.code, "network_error");
    assert.equal(err.endpoint, daemon.url);
    assert.ok(err.message.includes(daemon.url));
    assert.match(err.message, /ECONNREFUSED/);
    assert.match(err.message, /stratad running/);
    return true;
  });
});

test("a non-JSON error body becomes ApiError invalid_response with the request id header", async () => {
  await using daemon = await startFakeDaemon(() => ({
    status: 502,
    text: "<html>Bad Gateway</html>",
    headers: { "x-request-id": "req_proxy" },
  }));
  const client = new Client({ endpoint: daemon.url, token: "stk" });
  await assert.rejects(client.doctor(), (err: unknown) => {
    assert.ok(err instanceof ApiError);
    assert.equal(err.status, 502);
    assert.equal(err.code, "invalid_response");
    assert.equal(err.requestId, "req_proxy");
    assert.match(err.message, /502/);
    return true;
  });
});

test("a JSON error body without code and message becomes invalid_response", async () => {
  await using daemon = await startFakeDaemon(() => ({ status: 500, json: { error: "boom" } }));
  const client = new Client({ endpoint: daemon.url, token: "stk" });
  await assert.rejects(client.images.list(), { name: "ApiError", code: "invalid_response" });
});

test("a list answer that is not an array is rejected as invalid_response", async () => {
  await using daemon = await startFakeDaemon(() => ({ json: { items: [] } }));
  const client = new Client({ endpoint: daemon.url, token: "stk" });
  await assert.rejects(client.volumes.list(), { name: "ApiError", code: "invalid_response" });
});

test("snapshots.get() and images.get() return null when the daemon answers 404", async () => {
  await using daemon = await startFakeDaemon((req) => ({
    status: 404,
    json: {
      code: req.url.pathname.startsWith("/v1/images") ? "image_not_found" : "snapshot_not_found",
      message: "missing",
    },
  }));
  const client = new Client({ endpoint: daemon.url, token: "stk" });
  assert.equal(await client.snapshots.get("nope"), null);
  assert.equal(await client.images.get("builtin:nope"), null);
});

test("a second snapshots.delete() surfaces the 404 as an ApiError", async () => {
  let deleted = false;
  await using daemon = await startFakeDaemon(() => {
    if (deleted) return { status: 404, json: { code: "snapshot_not_found", message: "gone" } };
    deleted = true;
    return { status: 204 };
  });
  const client = new Client({ endpoint: daemon.url, token: "stk" });
  await client.snapshots.delete("snap");
  await assert.rejects(client.snapshots.delete("snap"), {
    code: "snapshot_not_found",
    status: 404,
  });
});

test("parseNextCursor() picks the rel=next link among several and reads its cursor", () => {
  const base = "http://127.0.0.1:7070";
  const header =
    '<http://h/v1/volumes?cursor=p>; rel="prev", <http://h/v1/volumes?limit=2&cursor=n%2C1>; rel="next"';
  assert.equal(parseNextCursor(header, base), "n,1");
  assert.equal(parseNextCursor("</v1/volumes?cursor=rel>; rel=next", base), "rel");
  assert.equal(parseNextCursor('<http://h/v1/volumes?cursor=p>; rel="prev"', base), null);
  assert.equal(parseNextCursor(null, base), null);
  assert.throws(() => parseNextCursor('<http://h/v1/volumes>; rel="next"', base), {
    code: "invalid_response",
  });
});
