import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, before, test } from "node:test";
import type { ErrorCode, Sandbox, Volume } from "@strata/api";
import type { FastifyInstance, LightMyRequestResponse } from "fastify";
import { pino } from "pino";
import { openDatabase } from "../db/database.ts";
import { OrgsRepo } from "../db/orgs-repo.ts";
import { StrataError } from "../errors.ts";
import { ExecError } from "../lib/exec.ts";
import { SandboxStartError } from "../runtime/start-error.ts";
import { AuthService } from "../service/auth.ts";
import { LayerNotFoundError } from "../storage/driver.ts";
import { buildApp } from "./app.ts";
import { type ServiceStubs, stubServices } from "./test-services.ts";

let dir: string;
let auth: AuthService;
let token: string;
/** The organisation of `token`, as the routes see it. */
let orgId: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "strata-http-"));
  auth = new AuthService(new OrgsRepo(openDatabase(":memory:")));
  token = await auth.ensureAdminToken(join(dir, "admin.token"));
  orgId = auth.authenticate(token)!.orgId;
});
after(() => rm(dir, { recursive: true, force: true }));

/** The app over a real AuthService and the given stubs; closed when the test ends. */
async function appWith(
  t: { after: (fn: () => Promise<unknown>) => void },
  stubs: ServiceStubs = {},
): Promise<FastifyInstance> {
  const app = await buildApp({
    services: stubServices(auth, stubs),
    logger: pino({ level: "silent" }),
    version: "0.0.0-test",
    region: "local",
  });
  t.after(() => app.close());
  return app;
}

const bearer = () => ({ authorization: `Bearer ${token}` });

function errorOf(res: LightMyRequestResponse): {
  code: string;
  message: string;
  requestId: string;
  details?: { path: string; message: string }[];
  errno?: string;
} {
  return res.json();
}

const VOLUME: Volume = {
  id: "vol_0000000000000000000a",
  slug: "data",
  region: "local",
  status: "ready",
  failureReason: null,
  capacity: 1e9,
  usedBytes: 0,
  estimatedAllocatedSize: 0,
  estimatedFlattenedSize: 0,
  bootable: false,
  base: null,
  attachedTo: null,
  createdAt: "2025-01-01T00:00:00.000Z",
};

test("a request without a valid bearer token gets 401 unauthenticated with WWW-Authenticate", async (t) => {
  const app = await appWith(t, {
    volumes: { list: async () => ({ items: [], nextCursor: null }) },
  });
  const cases: [Record<string, string>, RegExp][] = [
    [{}, /^Missing Authorization header/],
    [{ authorization: "Basic dXNlcjpwdw==" }, /^Malformed Authorization header/],
    [{ authorization: "Bearer" }, /^Malformed Authorization header/],
    [{ authorization: `Bearer ${token} extra` }, /^Malformed Authorization header/],
    [{ authorization: "Bearer stk_unknown" }, /^Invalid token/],
    [{ "sec-websocket-protocol": "strata.v1, strata.bearer.stk_unknown" }, /^Invalid token/],
  ];
  for (const [headers, message] of cases) {
    const res = await app.inject({ method: "GET", url: "/v1/volumes", headers });
    assert.equal(res.statusCode, 401, JSON.stringify(headers));
    assert.equal(res.headers["www-authenticate"], 'Bearer realm="strata"');
    const body = errorOf(res);
    assert.equal(body.code, "unauthenticated");
    assert.match(body.message, message);
    assert.equal(body.requestId, res.headers["x-request-id"]);
  }
});

test("a valid token, as a header or a WebSocket subprotocol, acts for its organisation", async (t) => {
  const seen: string[] = [];
  const app = await appWith(t, {
    volumes: {
      list: async (org) => {
        seen.push(org);
        return { items: [VOLUME], nextCursor: null };
      },
    },
  });
  for (const headers of [
    bearer(),
    { authorization: `bearer ${token}` },
    { "sec-websocket-protocol": `strata.v1, strata.bearer.${token}` },
  ]) {
    const res = await app.inject({ method: "GET", url: "/v1/volumes", headers });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), [VOLUME]);
  }
  assert.deepEqual(seen, [orgId, orgId, orgId]);
  const health = await app.inject({ method: "GET", url: "/v1/health" });
  assert.equal(health.statusCode, 200);
  assert.deepEqual(health.json(), { status: "ok", version: "0.0.0-test", region: "local" });
});

test("each error kind maps to its status, with the code, message and request id", async (t) => {
  let next: StrataError = new StrataError("internal", "unset");
  const app = await appWith(t, {
    volumes: {
      get: async () => {
        throw next;
      },
    },
  });
  const cases: [ErrorCode, number][] = [
    ["invalid_capacity", 400],
    ["unauthenticated", 401],
    ["volume_not_found", 404],
    ["payload_too_large", 413],
    ["slug_taken", 409],
    ["volume_in_use", 409],
    ["volume_not_ready", 409],
    ["pool_full", 503],
    ["sandbox_start_failed", 503],
    ["internal", 500],
  ];
  for (const [code, status] of cases) {
    next = new StrataError(code, `Cannot do it to "data": ${code}`);
    const res = await app.inject({ method: "GET", url: "/v1/volumes/data", headers: bearer() });
    assert.equal(res.statusCode, status, code);
    assert.deepEqual(errorOf(res), {
      code,
      message: `Cannot do it to "data": ${code}`,
      requestId: res.headers["x-request-id"],
    });
  }
  next = new StrataError("file_error", 'Cannot read "/x": it is a directory', { errno: "EISDIR" });
  const fileError = await app.inject({ method: "GET", url: "/v1/volumes/data", headers: bearer() });
  assert.equal(fileError.statusCode, 400);
  assert.equal(errorOf(fileError).errno, "EISDIR");
});

test("typed driver and runtime errors map once: start failure, full pool, deleted layer", async (t) => {
  let next: unknown;
  const fail = async (): Promise<never> => {
    throw next;
  };
  const app = await appWith(t, { sandboxes: { create: fail }, snapshots: { get: fail } });
  const create = () =>
    app.inject({ method: "POST", url: "/v1/sandboxes", headers: bearer(), payload: {} });

  next = new SandboxStartError(
    "sbx_0000000000000000000a",
    "crun exited with 1: cannot mount /proc",
  );
  const start = await create();
  assert.equal(start.statusCode, 503);
  assert.equal(errorOf(start).code, "sandbox_start_failed");
  assert.equal(
    errorOf(start).message,
    "Cannot start sandbox sbx_0000000000000000000a: crun exited with 1: cannot mount /proc",
  );

  for (const full of [
    Object.assign(new Error("write failed"), { code: "ENOSPC" }),
    new ExecError(["btrfs", "subvolume", "snapshot"], 1, "ERROR: No space left on device\n"),
  ]) {
    next = full;
    const res = await create();
    assert.equal(res.statusCode, 503);
    assert.equal(errorOf(res).code, "pool_full");
  }

  next = new LayerNotFoundError("snp_0000000000000000000a");
  const gone = await app.inject({ method: "GET", url: "/v1/snapshots/old", headers: bearer() });
  assert.equal(gone.statusCode, 404);
  assert.equal(errorOf(gone).code, "snapshot_not_found");
  assert.match(errorOf(gone).message, /snp_0000000000000000000a was deleted/);

  next = new Error("a bug with a secret in it");
  const bug = await create();
  assert.equal(bug.statusCode, 500);
  assert.equal(errorOf(bug).code, "internal");
  assert.doesNotMatch(errorOf(bug).message, /secret/);
  assert.match(errorOf(bug).message, new RegExp(errorOf(bug).requestId));
});

test("a broken input rule answers with its own code before any service runs", async (t) => {
  const app = await appWith(t);
  const cases: [string, string, unknown, ErrorCode, RegExp][] = [
    [
      "POST",
      "/v1/volumes",
      { slug: "Bad_Slug", region: "local", capacity: "1GB" },
      "invalid_slug",
      /^Invalid slug "Bad_Slug": a slug is 2–63/,
    ],
    [
      "POST",
      "/v1/volumes",
      { slug: "ab--cd", region: "local", capacity: "1GB" },
      "invalid_slug",
      /"ab--cd"/,
    ],
    [
      "POST",
      "/v1/volumes",
      { slug: "okay", region: "local", capacity: "lots" },
      "invalid_capacity",
      /^Invalid capacity "lots"/,
    ],
    ["POST", "/v1/volumes/data/snapshots", { slug: "-x" }, "invalid_slug", /"-x"/],
    [
      "POST",
      "/v1/sandboxes/sbx_1/snapshots",
      { name: "a" },
      "invalid_snapshot_name",
      /^Invalid snapshot name "a"/,
    ],
    ["POST", "/v1/sandboxes", { port: 70000 }, "invalid_port", /^Invalid port 70000: 1–65535$/],
    ["POST", "/v1/sandboxes", { timeout: "soon" }, "invalid_timeout", /"soon"/],
    ["POST", "/v1/sandboxes", { memory: "1KiB" }, "invalid_limits", /^Invalid memory "1KiB"/],
    ["POST", "/v1/sandboxes", { cpus: 0 }, "invalid_limits", /^Invalid cpus 0/],
    ["POST", "/v1/sandboxes", { labels: { "bad key!": "x" } }, "invalid_labels", /"bad key!"/],
    ["POST", "/v1/sandboxes", { env: { "1X": "y" } }, "invalid_env", /"1X"/],
    [
      "POST",
      "/v1/sandboxes",
      { volumes: { "/proc/x": "v" } },
      "invalid_mount_path",
      /over \/proc$/,
    ],
    [
      "POST",
      "/v1/sandboxes",
      { snapshotFrequency: "* * * * *" },
      "invalid_snapshot_schedule",
      /apply only/,
    ],
    ["PATCH", "/v1/sandboxes/sbx_1", { timeout: "0s" }, "invalid_timeout", /"0s"/],
    ["POST", "/v1/sandboxes/sbx_1/expose", { port: 0 }, "invalid_port", /Invalid port 0/],
    ["PATCH", "/v1/org", { snapshotRetention: "soon" }, "invalid_retention", /"soon"/],
  ];
  for (const [method, url, payload, code, message] of cases) {
    const res = await app.inject({
      method: method as "POST",
      url,
      headers: bearer(),
      payload: payload as object,
    });
    assert.equal(res.statusCode, 400, `${method} ${url} ${JSON.stringify(payload)}: ${res.body}`);
    const body = errorOf(res);
    assert.equal(body.code, code, JSON.stringify(payload));
    assert.match(body.message, message);
    assert.equal(body.details, undefined);
  }
});

test("a wrong type, an unknown field or a malformed body is invalid_request with details", async (t) => {
  const app = await appWith(t);
  const post = (payload: string | object, url = "/v1/volumes") =>
    app.inject({
      method: "POST",
      url,
      headers: { ...bearer(), "content-type": "application/json" },
      payload,
    });
  const typed = errorOf(await post({ slug: 42, region: "local", capacity: "1GB" }));
  assert.equal(typed.code, "invalid_request");
  assert.deepEqual(
    typed.details?.map((d) => d.path),
    ["body.slug"],
  );
  const unknown = errorOf(
    await post({ slug: "Bad_Slug", region: "local", capacity: "1GB", colour: "red" }),
  );
  assert.equal(unknown.code, "invalid_request");
  assert.match(unknown.message, /colour/);
  for (const bad of ["{oops", "[]", '"not an object"'])
    assert.equal(errorOf(await post(bad)).code, "invalid_request", bad);
  const port = await post({ port: 80.5 }, "/v1/sandboxes");
  assert.equal(errorOf(port).code, "invalid_request");
  const query = await app.inject({ method: "GET", url: "/v1/volumes?limit=0", headers: bearer() });
  assert.equal(query.statusCode, 400);
  assert.deepEqual(
    errorOf(query).details?.map((d) => d.path),
    ["querystring.limit"],
  );
  const long = await app.inject({
    method: "GET",
    url: `/v1/volumes/${"x".repeat(65)}`,
    headers: bearer(),
  });
  assert.equal(errorOf(long).code, "invalid_request");
});

test("a page with more announces the next one in an absolute Link header, keeping the query", async (t) => {
  const cursors: (string | undefined)[] = [];
  const app = await appWith(t, {
    volumes: {
      list: async (_org, query) => {
        cursors.push(query.cursor);
        return { items: [VOLUME], nextCursor: query.cursor === "c2" ? null : "c2" };
      },
    },
    sandboxes: {
      list: async () => ({ items: [] as Sandbox[], nextCursor: "s/1 2" }),
    },
  });
  const first = await app.inject({
    method: "GET",
    url: "/v1/volumes?limit=1&search=da",
    headers: { ...bearer(), host: "strata.example.com:7070" },
  });
  assert.equal(first.statusCode, 200);
  assert.equal(
    first.headers.link,
    '<http://strata.example.com:7070/v1/volumes?limit=1&search=da&cursor=c2>; rel="next"',
  );
  const last = await app.inject({
    method: "GET",
    url: "/v1/volumes?limit=1&search=da&cursor=c2",
    headers: { ...bearer(), host: "strata.example.com:7070" },
  });
  assert.equal(last.statusCode, 200);
  assert.equal(last.headers.link, undefined);
  assert.deepEqual(cursors, [undefined, "c2"]);
  const labelled = await app.inject({
    method: "GET",
    url: "/v1/sandboxes?label=team%3Da&label=env%3Dprod",
    headers: { ...bearer(), host: "localhost:7070" },
  });
  const next = /^<([^>]+)>; rel="next"$/.exec(String(labelled.headers.link))?.[1];
  assert.ok(next, String(labelled.headers.link));
  const url = new URL(next);
  assert.deepEqual(url.searchParams.getAll("label"), ["team=a", "env=prod"]);
  assert.equal(url.searchParams.get("cursor"), "s/1 2");
});

test("a body over 1 MiB gets 413 payload_too_large, declared or chunked; 1 MiB is still read", async (t) => {
  let created = 0;
  const app = await appWith(t, {
    volumes: {
      create: async () => {
        created++;
        return VOLUME;
      },
    },
  });
  const big = JSON.stringify({ slug: "x".repeat(2_000_000), region: "local", capacity: 1 });
  const declared = await app.inject({
    method: "POST",
    url: "/v1/volumes",
    headers: { ...bearer(), "content-type": "application/json" },
    payload: big,
  });
  assert.equal(declared.statusCode, 413);
  assert.equal(errorOf(declared).code, "payload_too_large");
  assert.match(
    errorOf(declared).message,
    /of \d+ bytes is too large: this route accepts at most 1 MiB/,
  );

  const chunked = await app.inject({
    method: "POST",
    url: "/v1/volumes",
    headers: { ...bearer(), "content-type": "application/json" },
    payload: Readable.from([big.slice(0, 1_000_000), big.slice(1_000_000)]),
  });
  assert.equal(chunked.statusCode, 413, chunked.body);
  assert.equal(errorOf(chunked).code, "payload_too_large");

  // Exactly at the limit the body is parsed and validated like any other.
  const prefix = '{"slug":"okay","region":"local","capacity":1,"from":"';
  const atLimit = `${prefix}${"x".repeat(1024 * 1024 - prefix.length - 2)}"}`;
  assert.equal(Buffer.byteLength(atLimit), 1024 * 1024);
  for (const payload of [atLimit, Readable.from([atLimit])]) {
    const ok = await app.inject({
      method: "POST",
      url: "/v1/volumes",
      headers: { ...bearer(), "content-type": "application/json" },
      payload,
    });
    assert.equal(ok.statusCode, 201, ok.body);
  }
  assert.equal(created, 2);
});

/**
 * Sends one raw HTTP/1.1 request and reads the connection to its end; `error` is how the
 * connection failed (ECONNRESET, EPIPE), if it did.
 */
function rawRequest(
  port: number,
  head: string,
  body: Buffer,
): Promise<{ response: string; error?: string }> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    let error: string | undefined;
    socket.on("data", (b: Buffer) => chunks.push(b));
    socket.on("error", (err: NodeJS.ErrnoException) => {
      error = err.code ?? err.message;
    });
    socket.on("close", () =>
      resolve({ response: Buffer.concat(chunks).toString(), ...(error ? { error } : {}) }),
    );
    socket.write(head);
    socket.end(body);
  });
}

test("over a real connection an oversized body gets a readable 413, never a reset", async (t) => {
  const app = await appWith(t, { volumes: { get: async () => VOLUME } });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const address = app.server.address();
  assert.ok(address !== null && typeof address === "object");
  const body = Buffer.from(
    JSON.stringify({ slug: "x".repeat(4_000_000), region: "local", capacity: 1 }),
  );
  // Answering before the body is read and closing the socket (what Fastify does) leaves the
  // body unread in the kernel, which then resets the connection: the client got EPIPE or
  // ECONNRESET instead of the answer.
  for (let i = 0; i < 3; i++) {
    const { response, error } = await rawRequest(
      address.port,
      `POST /v1/volumes HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer ${token}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`,
      body,
    );
    assert.equal(error, undefined, `the connection failed: ${error} ${response.slice(0, 400)}`);
    assert.match(response, /^HTTP\/1\.1 413 /);
    assert.match(response, /"code":"payload_too_large"/);
  }
  const half = Math.floor(body.length / 2);
  const chunked = await rawRequest(
    address.port,
    `POST /v1/volumes HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer ${token}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n`,
    Buffer.concat([
      Buffer.from(`${half.toString(16)}\r\n`),
      body.subarray(0, half),
      Buffer.from(`\r\n${(body.length - half).toString(16)}\r\n`),
      body.subarray(half),
      Buffer.from("\r\n0\r\n\r\n"),
    ]),
  );
  assert.equal(
    chunked.error,
    undefined,
    `the connection failed: ${chunked.error} ${chunked.response.slice(0, 400)}`,
  );
  assert.match(chunked.response, /^HTTP\/1\.1 413 /);
  assert.match(chunked.response, /"code":"payload_too_large"/);
  const base = `http://127.0.0.1:${address.port}`;
  const after = await fetch(`${base}/v1/volumes/data`, { headers: bearer() });
  assert.equal(after.status, 200);
  assert.deepEqual(await after.json(), VOLUME);
});

test("an unknown route is 404 not_found, with or without a token", async (t) => {
  const app = await appWith(t);
  for (const [method, url, headers] of [
    ["GET", "/v1/nope?x=1", {}],
    ["POST", "/v1/volumes/data/frobnicate", bearer()],
    ["GET", "/v2/volumes", bearer()],
  ] as const) {
    const res = await app.inject({ method, url, headers });
    assert.equal(res.statusCode, 404, url);
    const body = errorOf(res);
    assert.equal(body.code, "not_found");
    assert.equal(body.message, `No route for ${method} ${url.split("?")[0]}`);
  }
});

test("openapi.json is public and documents the input rules as JSON Schema limits", async (t) => {
  const app = await appWith(t);
  const res = await app.inject({ method: "GET", url: "/v1/openapi.json" });
  assert.equal(res.statusCode, 200);
  const doc = res.json();
  const body = (path: string, method: string) =>
    doc.paths[path][method].requestBody.content["application/json"].schema;
  const volume = body("/v1/volumes", "post").properties;
  assert.deepEqual([volume.slug.minLength, volume.slug.maxLength], [2, 63]);
  assert.ok(new RegExp(volume.slug.pattern).test("api-env-v1.0.0"));
  assert.ok(!new RegExp(volume.slug.pattern).test("-x"));
  assert.match(volume.slug.description, /2–63 characters/);
  const snapshotName = body("/v1/sandboxes/{id}/snapshots", "post").properties.name;
  assert.equal(snapshotName.pattern, volume.slug.pattern);
  assert.equal(
    body("/v1/volumes/{idOrSlug}/snapshots", "post").properties.slug.pattern,
    volume.slug.pattern,
  );
  const sandbox = body("/v1/sandboxes", "post").properties;
  assert.deepEqual([sandbox.port.minimum, sandbox.port.maximum], [1, 65535]);
  assert.equal(sandbox.cpus.minimum, 0.1);
  assert.equal(sandbox.labels.maxProperties, 10);
  assert.equal(sandbox.labels.propertyNames.pattern, "^[A-Za-z0-9_./-]{1,64}$");
  assert.deepEqual([sandbox.snapshotKeep.minimum, sandbox.snapshotKeep.maximum], [1, 1000]);
  assert.deepEqual([body("/v1/sandboxes/{id}/expose", "post").properties.port.maximum], [65535]);
  const limit = doc.paths["/v1/volumes"].get.parameters.find(
    (p: { name: string }) => p.name === "limit",
  );
  assert.deepEqual([limit.schema.minimum, limit.schema.maximum], [1, 200]);
});
