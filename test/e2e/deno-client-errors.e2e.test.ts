import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, test } from "node:test";
import {
  ApiError,
  Client,
  ConnectionEstablishmentError,
  InvalidTokenError,
  Sandbox,
} from "@deno/sandbox";
import type { Sandbox as StrataSandbox } from "@strata/api";
import { RawSocket, strataId, useDaemon } from "./deno-harness.ts";
import { isRoot, REPO, TestDaemon, waitFor } from "./harness.ts";

/**
 * What the official client must see when things go wrong, and what a raw client sending
 * what the official one never would gets: clear errors with Strata's codes, the daemon and
 * other sandboxes unaffected, nothing left behind.
 */
describe("errors and bad input through the Deno API", { skip: !isRoot && "needs root" }, () => {
  let d: TestDaemon;
  let client: Client;
  let witness: Sandbox;
  const tag = Math.random().toString(36).slice(2, 8);

  before(async () => {
    d = await TestDaemon.start(["--region", "ord"]);
    useDaemon(d);
    client = new Client();
    await client.volumes.create({ slug: `empty-${tag}`, region: "ord", capacity: "1GB" });
    // A sandbox that must keep working whatever the other tests do.
    witness = await Sandbox.create({ timeout: "10m" });
  });
  after(async () => {
    await witness?.kill().catch(() => {});
    // Also proves no refused upgrade left a socket open: the daemon's close waits for them all.
    await d?.[Symbol.asyncDispose]();
  });

  const status = async (denoId: string) =>
    (await d.api<StrataSandbox>("GET", `/v1/sandboxes/${strataId(denoId)}`)).body.status;
  const ready = async () =>
    (await d.api<StrataSandbox[]>("GET", "/v1/sandboxes?status=ready")).body.map((s) => s.id);
  const stopped = (denoId: string) =>
    waitFor(
      `sandbox ${denoId} to stop`,
      async () => ((await status(denoId)) === "stopped" ? true : undefined),
      20_000,
    );
  const refusedWith = (code: string) => (e: unknown) =>
    e instanceof ConnectionEstablishmentError && e.code === code;

  test("a bad token is InvalidTokenError for sandboxes and ApiError 401 for the console", async () => {
    await assert.rejects(Sandbox.create({ token: "stk_not-a-token" }), InvalidTokenError);
    await assert.rejects(
      new Client({ token: "stk_not-a-token" }).volumes.list(),
      (e: unknown) => e instanceof ApiError && e.status === 401 && e.code === "unauthenticated",
    );
  });

  test("DENO_DEPLOY_ORG must name the token's organisation", async () => {
    await assert.rejects(Sandbox.create({ org: "someone-else" }), refusedWith("org_mismatch"));
    await assert.rejects(
      new Client({ org: "someone-else" }).snapshots.list(),
      (e: unknown) =>
        e instanceof ApiError &&
        e.status === 401 &&
        e.code === "org_mismatch" &&
        /"default"/.test(e.message),
    );
  });

  test("a root that does not exist or is not bootable, too many labels: refused before the socket opens, nothing started", async () => {
    const before = await ready();
    await assert.rejects(
      Sandbox.create({ root: `missing-${tag}` }),
      refusedWith("volume_not_found"),
    );
    await assert.rejects(
      Sandbox.create({ root: `empty-${tag}` }),
      refusedWith("root_not_bootable"),
    );
    const labels = Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`k${i}`, "v"]));
    await assert.rejects(Sandbox.create({ labels }), refusedWith("invalid_labels"));
    await assert.rejects(
      Sandbox.create({ volumes: { "/proc": `empty-${tag}` } }),
      refusedWith("invalid_mount_path"),
    );
    assert.deepEqual(await ready(), before);
  });

  test("secrets are refused and the sandbox never starts; Deno runtime, SSH, VS Code, deploy and fetch fail at once", async () => {
    const before = await ready();
    await assert.rejects(
      Sandbox.create({ secrets: { API_KEY: { hosts: ["api.example.com"], value: "s3cret" } } }),
      (e: unknown) => refusedWith("not_supported")(e) && /secrets/.test((e as Error).message),
    );
    assert.deepEqual(await ready(), before);
    await assert.rejects(
      Sandbox.create({ ssh: true }),
      /Failed to expose SSH: 400 .*not_supported/,
    );
    await using sb = await Sandbox.create();
    const notSupported = (e: unknown) => (e as { code?: string }).code === "not_supported";
    await assert.rejects(sb.deno.run({ code: "console.log(1)" }), notSupported);
    await assert.rejects(sb.deno.eval("1 + 1"), notSupported);
    await assert.rejects(sb.exposeSsh(), /Failed to expose SSH: 400 .*not_supported/);
    await assert.rejects(sb.exposeVscode("/root"), notSupported);
    await assert.rejects(
      sb.deploy("my-app"),
      /Failed to create deployment job: 400 .*not_supported/,
    );
    await assert.rejects(sb.fetch("http://example.com/"), notSupported);
    await assert.rejects(sb.fs.umask(0o22), notSupported);
    await assert.rejects(
      client.apps.list(),
      (e: unknown) => e instanceof ApiError && e.code === "not_supported",
    );
    assert.equal(await sb.sh`echo still fine`.text(), "still fine\n");
  });

  test("the config header must be base64 JSON within bounds; memory out of range is refused", async () => {
    const refused = async (config: unknown, code: number, pattern: RegExp) => {
      const err = (await RawSocket.create(d, config).then(
        (s) => s.close().then(() => undefined),
        (e: unknown) => e,
      )) as { status?: number; body?: string } | undefined;
      assert.equal(err?.status, code, JSON.stringify(config));
      assert.match(err?.body ?? "", pattern);
    };
    await refused("%%%not base64%%%", 400, /"code":"invalid_request".*not base64/);
    await refused(Buffer.from("{not json").toString("base64"), 400, /base64 but not JSON/);
    await refused({ memory_mb: "lots" }, 400, /memory_mb/);
    await refused({ memory_mb: 1 }, 400, /"code":"invalid_limits"/);
    await refused({ volumes: "nope" }, 400, /volumes/);
    await refused({ stop_at_ms: Date.now() - 1000 }, 400, /"code":"invalid_timeout"/);
    const noHeader = await RawSocket.open(
      `${d.url.replace("http", "ws")}/api/v3/sandboxes/create`,
      {
        authorization: `Bearer ${d.token}`,
      },
    ).catch((e: unknown) => e as { status: number; body: string });
    assert.equal((noHeader as { status: number }).status, 400);
  });

  test("JSON-RPC: unknown method -32601, malformed frames answered and survived, ENOENT for ended processes", async () => {
    const s = await RawSocket.create(d, { memory_mb: 1280, volumes: [] });
    try {
      assert.match(s.sandboxId, /^sbx_ord_[0-9a-hjkmnp-z]{20}$/);
      const unknown = await s.call("noSuchMethod", {});
      assert.equal((unknown.error as { code: number }).code, -32601);
      const parse = await s.send("{not json", -1);
      assert.equal((parse.error as { code: number }).code, -32700);
      const invalid = await s.send({ jsonrpc: "1.0", id: 77, method: 3 }, 77);
      assert.equal((invalid.error as { code: number }).code, -32600);
      const badParams = await s.call("readFile", { path: 42 });
      assert.ok(
        badParams.error || (badParams.result as { error?: unknown }).error,
        JSON.stringify(badParams),
      );
      s.ws.send("ping");
      const spawned = await s.call("spawn", { command: "true", stdout: "null", stderr: "null" });
      const { pid } = (spawned.result as { ok: { pid: number } }).ok;
      const waited = await s.call("processWait", { pid });
      assert.deepEqual(waited.result, { ok: { success: true, code: 0, signal: null, oom: null } });
      assert.deepEqual(
        (await s.call("processWait", { pid })).result,
        waited.result,
        "the status is kept after exit",
      );
      const kill = await s.call("processKill", { pid, signal: "SIGTERM" });
      assert.equal((kill.result as { error: { code: string } }).error.code, "ENOENT");
      const never = await s.call("processWait", { pid: 999_999 });
      assert.equal(
        (never.result as { error: { constructorName: string } }).error.constructorName,
        "NotFound",
      );
      const badSignal = await s.call("processKill", { pid, signal: "SIGNOPE" });
      assert.equal((badSignal.error as { code: number }).code, -32602);
      assert.ok(s.texts.includes("pong"));
    } finally {
      await s.close();
    }
    await stopped(s.sandboxId);
  });

  test("closing the socket mid-stream ends a session sandbox and everything in it", async () => {
    const s = await RawSocket.create(d, { memory_mb: 1280, volumes: [] });
    const spawned = await s.call("spawn", { command: "yes", stdout: "piped", stderr: "null" });
    const streamId = (spawned.result as { ok: { stdoutStreamId: number } }).ok.stdoutStreamId;
    await s.waitFor(
      (n) =>
        n.method === "$sandbox.stream.enqueue" &&
        (n.params as { streamId: number }).streamId === streamId,
    );
    s.ws.terminate();
    await stopped(s.sandboxId);
  });

  test("killing the client process ends its session sandbox", async () => {
    const child = spawn(process.execPath, [join(REPO, "test/e2e/fixtures/deno-session-child.ts")], {
      env: process.env,
      stdio: ["ignore", "pipe", "inherit"],
    });
    const [line] = (await once(createInterface({ input: child.stdout! }), "line")) as [string];
    assert.equal(await status(line), "ready");
    child.kill("SIGKILL");
    await once(child, "exit");
    await stopped(line);
  });

  test("two sandboxes used at once from one client stream to the right places", async () => {
    const [a, b] = await Promise.all([Sandbox.create(), Sandbox.create()]);
    try {
      const out = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          (i % 2 ? a : b).sh`for n in 1 2 3; do echo ${String(i)}-$n; done`.text(),
        ),
      );
      assert.deepEqual(
        out,
        Array.from({ length: 6 }, (_, i) => `${i}-1\n${i}-2\n${i}-3\n`),
      );
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  test("the daemon and other sandboxes were unaffected", async () => {
    assert.equal(await witness.sh`echo alive`.text(), "alive\n");
    assert.equal((await d.api("GET", "/v1/health")).status, 200);
  });
});
