import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Sandbox, SandboxCreate, Volume, VolumeCreate } from "@strata/api";
import { SandboxCreate as SandboxCreateSchema } from "@strata/api";
import type { FastifyInstance } from "fastify";
import { pino } from "pino";
import WebSocket from "ws";
import { openDatabase } from "../../db/database.ts";
import { OrgsRepo } from "../../db/orgs-repo.ts";
import { StrataError } from "../../errors.ts";
import { AuthService } from "../../service/auth.ts";
import { buildApp } from "../app.ts";
import { type ServiceStubs, stubServices } from "../test-services.ts";
import { createInput } from "./endpoint.ts";
import { fromDenoId, regionTag, toDenoId } from "./ids.ts";
import { waitResult } from "./lifecycle.ts";
import { errnoOf } from "./sandbox-exec.ts";
import { valid } from "./strata.ts";
import { decodeConfig, type SandboxConfig } from "./wire.ts";

/**
 * The Deno compatibility layer without root: its pure translations, and the app in process
 * over stubbed services (a stub not given fails the request with a 500, so a 4xx proves
 * the layer refused before calling the service).
 */

const ID = "sbx_0123456789abcdefghjk";
const DENO_ID = "sbx_ord_0123456789abcdefghjk";

const config = (c: Record<string, unknown>) =>
  Buffer.from(JSON.stringify(c), "latin1").toString("base64");

describe("ids", () => {
  test("Strata ids map to sbx_<region>_<20> and back; another region's id is not ours", () => {
    assert.equal(toDenoId(ID, "ord"), DENO_ID);
    assert.match(DENO_ID, /^sbx_([a-z]{3})_[0-9a-hjkmnp-z]{20}$/, "the form the client checks");
    assert.equal(fromDenoId(DENO_ID, "ord"), ID);
    assert.equal(fromDenoId(ID, "ord"), ID, "Strata's own form works too");
    assert.equal(fromDenoId("sbx_ams_0123456789abcdefghjk", "ord"), undefined);
    assert.equal(fromDenoId("sbx_ord_0123456789abcdefghj!", "ord"), undefined);
    assert.equal(fromDenoId(`sbx_ord_${"a".repeat(100)}`, "ord"), undefined);
    assert.equal(regionTag("ord"), "ord");
    assert.equal(regionTag("local"), "loc");
  });
});

describe("the config header", () => {
  test("is base64 of Latin-1 JSON, as the client's btoa() makes it", () => {
    const c = decodeConfig(config({ memory_mb: 1280, labels: { name: "é" }, volumes: [] }));
    assert.deepEqual(c, { memory_mb: 1280, labels: { name: "é" }, volumes: [] });
  });

  test("anything else is a message saying what is wrong", () => {
    assert.match(decodeConfig("%%%") as string, /not base64/);
    assert.match(decodeConfig(Buffer.from("{x").toString("base64")) as string, /not JSON/);
    assert.match(decodeConfig(config({ memory_mb: "lots" })) as string, /at memory_mb/);
    assert.match(decodeConfig(config({ volumes: [{ path: "/x" }] })) as string, /volumes\.0/);
    assert.match(decodeConfig("A".repeat(20_000)) as string, /not base64/);
  });
});

describe("createInput()", () => {
  const now = 1_000_000;
  test("translates memory, the deadline, labels, root, mounts and allowNet", () => {
    const c: SandboxConfig = {
      memory_mb: 1280,
      stop_at_ms: now + 90_500,
      labels: { team: "a" },
      root: { volume: "snap" },
      volumes: [{ volume: "data", path: "/data" }],
      allow_net: ["example.com"],
    };
    assert.deepEqual(createInput(c, now), {
      memory: 1280 * 2 ** 20,
      timeout: "91s",
      labels: { team: "a" },
      root: "snap",
      volumes: { "/data": "data" },
      allowNet: ["example.com"],
    } satisfies SandboxCreate);
    assert.deepEqual(createInput({ memory_mb: 1280, volumes: [] }, now), {
      memory: 1280 * 2 ** 20,
    });
  });

  test("refuses secrets, a deadline in the past and a mount path given twice", () => {
    const code = (c: SandboxConfig) => {
      try {
        createInput(c, now);
      } catch (err) {
        return (err as StrataError).code;
      }
      return "accepted";
    };
    assert.equal(
      code({ secrets: { KEY: { hosts: ["example.com"], value: "x" } } }),
      "not_supported",
    );
    assert.equal(code({ stop_at_ms: now - 1 }), "invalid_timeout");
    assert.equal(
      code({
        volumes: [
          { volume: "a", path: "/d" },
          { volume: "b", path: "/d" },
        ],
      }),
      "invalid_mount_path",
    );
  });

  test("its result passes the same schema as a /v1 body: broken rules keep their codes", () => {
    const fails = (c: SandboxConfig) => {
      try {
        valid(SandboxCreateSchema, createInput(c, now));
      } catch (err) {
        assert.ok(err instanceof StrataError);
        return err.code;
      }
      return "accepted";
    };
    const labels = Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`k${i}`, "v"]));
    assert.equal(fails({ labels }), "invalid_labels");
    assert.equal(fails({ labels: { "bad key!": "v" } }), "invalid_labels");
    assert.equal(fails({ memory_mb: 1 }), "invalid_limits");
    assert.equal(fails({ volumes: [{ volume: "v", path: "/proc" }] }), "invalid_mount_path");
    assert.equal(fails({ memory_mb: 1280, labels: { ok: "yes" } }), "accepted");
  });
});

test("waitResult() reports a signal death as 128 + signo, as a shell does", () => {
  assert.deepEqual(waitResult({ code: 0, signal: null }), {
    success: true,
    code: 0,
    signal: null,
    oom: null,
  });
  assert.deepEqual(waitResult({ code: null, signal: "SIGKILL" }), {
    success: false,
    code: 137,
    signal: "SIGKILL",
    oom: null,
  });
  assert.equal(waitResult({ code: null, signal: "SIGTERM" }).code, 143);
});

test("errnoOf() reads coreutils' messages", () => {
  assert.equal(errnoOf("cp: cannot stat '/x': No such file or directory"), "ENOENT");
  assert.equal(errnoOf("ln: failed to create symbolic link '/x': File exists"), "EEXIST");
  assert.equal(errnoOf("chown: invalid user: 'nobody:x'"), "EINVAL");
  assert.equal(errnoOf("something else"), "EIO");
});

describe("the app in process", () => {
  let dir: string;
  let auth: AuthService;
  let token: string;
  let orgId: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "strata-compat-"));
    auth = new AuthService(new OrgsRepo(openDatabase(":memory:")));
    token = await auth.ensureAdminToken(join(dir, "admin.token"));
    orgId = auth.authenticate(token)!.orgId;
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const appWith = async (
    t: { after: (fn: () => Promise<unknown>) => void },
    stubs: ServiceStubs = {},
  ): Promise<FastifyInstance> => {
    const app = await buildApp({
      services: stubServices(auth, {
        orgs: { get: (id) => ({ id, name: "default", snapshotRetention: "never" }) },
        ...stubs,
      }),
      logger: pino({ level: "silent" }),
      version: "0.0.0-test",
      region: "ord",
    });
    t.after(() => app.close());
    return app;
  };
  const headers = () => ({ authorization: `Bearer ${token}`, "x-deno-org": "default" });

  const VOLUME: Volume = {
    id: "vol_0000000000000000000a",
    slug: "data",
    region: "ord",
    status: "ready",
    failureReason: null,
    capacity: 1e9,
    usedBytes: 0,
    estimatedAllocatedSize: 4096,
    estimatedFlattenedSize: 8192,
    bootable: true,
    base: { kind: "image", image: "builtin:debian-13" },
    attachedTo: null,
    createdAt: "2025-01-01T00:00:00.000Z",
  };
  const SANDBOX: Sandbox = {
    id: ID,
    region: "ord",
    status: "ready",
    stopReason: null,
    root: { kind: "image", image: "builtin:debian-13" },
    volumes: [],
    labels: { team: "a" },
    memory: 1280 * 2 ** 20,
    cpus: 1,
    runtime: "crun",
    port: null,
    url: null,
    allowNet: null,
    createdAt: "2025-01-01T00:00:00.000Z",
    stoppedAt: null,
    expiresAt: null,
    template: { kind: "image", image: "builtin:debian-13" },
    persistent: false,
    diskBytes: null,
    startable: false,
    snapshotMode: "manual",
    snapshotFrequency: null,
    snapshotKeep: null,
  };

  test("tokens: a missing or bad one is 401 unauthenticated on the console, INVALID_TOKEN on the sandbox endpoint; X-Deno-Org must match", async (t) => {
    const app = await appWith(t);
    const none = await app.inject({ method: "GET", url: "/api/v2/volumes" });
    assert.equal(none.statusCode, 401);
    assert.equal(none.json().code, "unauthenticated");
    const bad = await app.inject({
      method: "DELETE",
      url: `/api/v3/sandbox/${DENO_ID}`,
      headers: { authorization: "Bearer stk_nope" },
    });
    assert.equal(bad.statusCode, 401);
    assert.equal(bad.json().code, "INVALID_TOKEN");
    const org = await app.inject({
      method: "GET",
      url: "/api/v2/snapshots",
      headers: { ...headers(), "x-deno-org": "other" },
    });
    assert.equal(org.statusCode, 401);
    assert.equal(org.json().code, "org_mismatch");
  });

  test("a volume's create input passes the /v1 schema before the service sees it", async (t) => {
    const created: VolumeCreate[] = [];
    const ensured: string[] = [];
    const app = await appWith(t, {
      volumes: {
        create: async (_org, input) => {
          created.push(input);
          return VOLUME;
        },
      },
      images: {
        ensure: async (name) => {
          ensured.push(name);
          return "img_0";
        },
      },
    });
    const post = (body: Record<string, unknown>) =>
      app.inject({ method: "POST", url: "/api/v2/volumes", headers: headers(), payload: body });
    const cases: [Record<string, unknown>, string][] = [
      [{ slug: "Not_A_Slug", region: "ord", capacity: "1GB" }, "invalid_slug"],
      [{ slug: "ok-slug", region: "ord", capacity: "lots" }, "invalid_capacity"],
      [{ slug: "ok-slug", region: "ord" }, "invalid_request"],
    ];
    for (const [body, code] of cases) {
      const res = await post(body);
      assert.equal(res.statusCode, 400, JSON.stringify(body));
      assert.equal(res.json().code, code, JSON.stringify(body));
    }
    assert.deepEqual(created, [], "the service was never called");

    // The client sends its whole options object: only the volume's fields count.
    const res = await post({
      slug: "data",
      region: "ord",
      capacity: "1GB",
      from: "builtin:debian-13",
      token: "stk_leaked",
      apiEndpoint: "http://example.com",
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(created, [
      { slug: "data", region: "ord", capacity: "1GB", from: "builtin:debian-13" },
    ]);
    assert.deepEqual(ensured, ["builtin:debian-13"], "the image is built before the create");
    assert.deepEqual(res.json(), {
      id: VOLUME.id,
      slug: "data",
      region: "ord",
      capacity: 1e9,
      estimated_allocated_size: 4096,
      estimated_flattened_size: 8192,
      is_bootable: true,
      base_snapshot: null,
    });
  });

  test("lists are bare arrays with an absolute Link; a missing volume is a 404 the client reads as null", async (t) => {
    const app = await appWith(t, {
      volumes: {
        list: async (_org, query) => {
          assert.deepEqual(query, { limit: 2, search: "da" });
          return { items: [VOLUME], nextCursor: "c,1;x" };
        },
        get: async (_org, ref) => {
          throw new StrataError("volume_not_found", `Volume "${ref}" not found`);
        },
      },
    });
    const res = await app.inject({
      method: "GET",
      url: "/api/v2/volumes?limit=2&search=da",
      headers: headers(),
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().length, 1);
    const link = String(res.headers.link);
    const m = /^<(http:\/\/[^>]+)>; rel="next"$/.exec(link);
    assert.ok(m, link);
    assert.ok(!m[1]!.includes(",") && !m[1]!.includes(";"), "the client splits on , and ;");
    assert.equal(new URL(m[1]!).searchParams.get("cursor"), "c,1;x");
    const bad = await app.inject({
      method: "GET",
      url: "/api/v2/volumes?limit=0",
      headers: headers(),
    });
    assert.equal(bad.statusCode, 400);
    const missing = await app.inject({
      method: "GET",
      url: "/api/v2/volumes/nope",
      headers: headers(),
    });
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().code, "volume_not_found");
  });

  test("the sandbox list filters by labels[k]=v and shows Deno-shaped ids", async (t) => {
    const app = await appWith(t, {
      sandboxes: {
        list: async (_org, query) => {
          assert.deepEqual(query.label, ["team=a b"]);
          return { items: [SANDBOX], nextCursor: null };
        },
      },
    });
    const res = await app.inject({
      method: "GET",
      url: "/api/v2/sandboxes?labels%5Bteam%5D=a+b",
      headers: headers(),
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), [
      {
        id: DENO_ID,
        createdAt: SANDBOX.createdAt,
        stoppedAt: null,
        region: "ord",
        status: "running",
        labels: { team: "a" },
      },
    ]);
  });

  test("extendTimeout's absolute deadline becomes a timeout from now; Deno Deploy's apps are refused", async (t) => {
    const updates: unknown[] = [];
    const app = await appWith(t, {
      sandboxes: {
        get: async () => SANDBOX,
        update: async (_org, _id, input) => {
          updates.push(input);
          return { ...SANDBOX, expiresAt: new Date(Date.now() + 600_000).toISOString() };
        },
      },
    });
    const res = await app.inject({
      method: "PATCH",
      url: `/api/v3/sandbox/${DENO_ID}`,
      headers: headers(),
      payload: { stop_at_ms: Date.now() + 600_000 },
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(typeof res.json().stop_at_ms, "number");
    assert.equal(updates.length, 1);
    assert.match((updates[0] as { timeout: string }).timeout, /^(599|600)s$/);
    const past = await app.inject({
      method: "PATCH",
      url: `/api/v3/sandbox/${DENO_ID}`,
      headers: headers(),
      payload: { stop_at_ms: Date.now() - 1 },
    });
    assert.equal(past.json().code, "invalid_timeout");
    const apps = await app.inject({ method: "GET", url: "/api/v2/apps", headers: headers() });
    assert.equal(apps.statusCode, 400);
    assert.equal(apps.json().code, "not_supported");
  });

  describe("the sandbox socket", () => {
    const listen = async (
      t: { after: (fn: () => Promise<unknown>) => void },
      stubs: ServiceStubs,
    ) => {
      const app = await appWith(t, stubs);
      await app.listen({ host: "127.0.0.1", port: 0 });
      const address = app.server.address();
      assert.ok(address && typeof address === "object");
      return `ws://127.0.0.1:${address.port}`;
    };
    const open = (url: string, header: string) =>
      new Promise<{ ws: WebSocket; id: string } | { status: number; body: string }>(
        (resolve, reject) => {
          const ws = new WebSocket(`${url}/api/v3/sandboxes/create`, {
            headers: { authorization: `Bearer ${token}`, "x-deno-sandbox-config": header },
          });
          let id = "";
          ws.once("upgrade", (res) => {
            id = String(res.headers["x-deno-sandbox-id"]);
          });
          ws.once("open", () => resolve({ ws, id }));
          ws.once("unexpected-response", (_req, res) => {
            let body = "";
            res.on("data", (c: Buffer) => {
              body += c;
            });
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
          });
          ws.once("error", reject);
        },
      );

    test("a create refused by the schema answers before the 101 and never reaches the service", async (t) => {
      const url = await listen(t, {});
      const labels = Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`k${i}`, "v"]));
      for (const [c, code] of [
        [{ memory_mb: 1280, labels, volumes: [] }, "invalid_labels"],
        [{ memory_mb: 1, volumes: [] }, "invalid_limits"],
        [
          { memory_mb: 1280, volumes: [], secrets: { K: { hosts: [], value: "v" } } },
          "not_supported",
        ],
      ] as const) {
        const r = await open(url, config(c));
        assert.ok("status" in r, "refused");
        assert.equal(r.status, 400);
        assert.equal(JSON.parse(r.body).code, code);
      }
      const r = await open(url, "not base64!");
      assert.ok("status" in r);
      assert.equal(JSON.parse(r.body).code, "invalid_request");
    });

    test("a session sandbox: 101 with its Deno id, ping/pong, -32601, and the sandbox ends when its socket closes", {
      timeout: 10_000,
    }, async (t) => {
      const inputs: SandboxCreate[] = [];
      const killed = Promise.withResolvers<string>();
      const url = await listen(t, {
        sandboxes: {
          create: async (org, input) => {
            assert.equal(org, orgId);
            inputs.push(input);
            return SANDBOX;
          },
          get: async () => SANDBOX,
          kill: async (_org, id) => killed.resolve(id),
        },
      });
      const r = await open(url, config({ memory_mb: 1280, labels: { team: "a" }, volumes: [] }));
      assert.ok("ws" in r);
      assert.equal(r.id, DENO_ID);
      assert.deepEqual(inputs, [{ memory: 1280 * 2 ** 20, labels: { team: "a" } }]);
      const messages: string[] = [];
      r.ws.on("message", (m) => messages.push(String(m)));
      r.ws.send("ping");
      r.ws.send(JSON.stringify({ jsonrpc: "2.0", id: 0, method: "noSuchMethod", params: {} }));
      while (messages.length < 2) await once(r.ws, "message");
      assert.equal(messages[0], "pong");
      assert.equal(JSON.parse(messages[1]!).error.code, -32601);
      r.ws.close();
      await once(r.ws, "close");
      assert.equal(await killed.promise, ID);
    });
  });
});
