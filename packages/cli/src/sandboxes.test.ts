import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import type { SandboxInfo } from "@strata/sdk";

const MAIN = fileURLToPath(new URL("./main.ts", import.meta.url));
const ID = "sbx_0123456789abcdefghij";

interface Seen {
  method: string;
  url: URL;
  body: unknown;
}

/** A daemon stand-in that records requests; `route` answers each one. */
async function fakeDaemon(route: (req: Seen) => { status?: number; json?: unknown }) {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let raw = "";
    req.on("data", (c: Buffer) => {
      raw += c;
    });
    req.on("end", () => {
      const s: Seen = {
        method: req.method ?? "GET",
        url: new URL(req.url ?? "/", `http://${req.headers.host}`),
        body: raw ? JSON.parse(raw) : undefined,
      };
      seen.push(s);
      const reply = route(s);
      res.writeHead(reply.status ?? 200, { "content-type": "application/json" });
      res.end(reply.json === undefined ? "" : JSON.stringify(reply.json));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return { url, seen, [Symbol.asyncDispose]: close };
}

function strata(endpoint: string, args: string[]) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [MAIN, ...args],
      {
        env: { ...process.env, STRATA_ENDPOINT: endpoint, STRATA_TOKEN: "stk_test", NO_COLOR: "1" },
      },
      (err, stdout, stderr) => {
        const code = err && typeof err.code === "number" ? err.code : err ? 1 : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

function sandbox(overrides: Partial<SandboxInfo> = {}): SandboxInfo {
  return {
    id: ID,
    region: "local",
    status: "ready",
    stopReason: null,
    root: { kind: "image", image: "builtin:debian-13" },
    volumes: [],
    labels: {},
    memory: 2 ** 30,
    cpus: 1,
    runtime: "crun",
    port: null,
    url: null,
    allowNet: null,
    createdAt: "2025-01-01T00:00:00.123Z",
    stoppedAt: null,
    expiresAt: null,
    template: { kind: "image", image: "builtin:debian-13" },
    persistent: false,
    diskBytes: null,
    startable: false,
    snapshotMode: "manual",
    snapshotFrequency: null,
    snapshotKeep: null,
    ...overrides,
  };
}

test("strata sandboxes create sends every option and prints the sandbox", async () => {
  await using daemon = await fakeDaemon(() => ({
    status: 201,
    json: sandbox({ port: 8000, url: `http://0123456789abcdefghij-8000.localhost:7080/` }),
  }));
  const { code, stdout, stderr } = await strata(daemon.url, [
    "sandboxes",
    "create",
    "--root",
    "snap-1",
    "--volume",
    "/data=ds",
    "--label",
    "a=b",
    "--label",
    "c=d=e",
    "--env",
    "K=V",
    "--timeout",
    "30m",
    "--memory",
    "1GiB",
    "--cpus",
    "0.5",
    "--port",
    "8000",
    "--allow-net",
    "deb.debian.org,*.npmjs.org",
    "--allow-net",
    "10.0.0.0/8",
  ]);
  assert.equal(code, 0, stderr);
  assert.deepEqual(daemon.seen[0]?.body, {
    root: "snap-1",
    volumes: { "/data": "ds" },
    labels: { a: "b", c: "d=e" },
    env: { K: "V" },
    timeout: "30m",
    memory: "1GiB",
    cpus: 0.5,
    port: 8000,
    allowNet: ["deb.debian.org", "*.npmjs.org", "10.0.0.0/8"],
  });
  assert.match(stdout, /^ID +sbx_0123456789abcdefghij$/m);
  assert.match(stdout, /^URL +http:\/\/0123456789abcdefghij-8000\.localhost:7080\/$/m);
});

test("strata sandboxes list prints ID STATUS ROOT CREATED LABELS and filters by label and status", async () => {
  await using daemon = await fakeDaemon(() => ({
    json: [
      sandbox({ labels: { job: "ci", team: "a" } }),
      sandbox({
        id: "sbx_bbbbbbbbbbbbbbbbbbbb",
        status: "stopped",
        root: { kind: "snapshot", snapshot: { id: "snp_1", slug: "tool-v1" } },
      }),
    ],
  }));
  const { code, stdout } = await strata(daemon.url, [
    "sandboxes",
    "list",
    "--label",
    "job=ci",
    "--label",
    "team=a",
    "--status",
    "ready",
  ]);
  assert.equal(code, 0);
  const lines = stdout.trimEnd().split("\n");
  assert.match(lines[0] ?? "", /^ID +STATUS +ROOT +CREATED +LABELS$/);
  assert.match(
    lines[1] ?? "",
    /^sbx_0123456789abcdefghij +ready +builtin:debian-13 +2025-01-01T00:00:00Z +job=ci,team=a$/,
  );
  assert.match(lines[2] ?? "", /^sbx_b+ +stopped +snapshot tool-v1 +2025-01-01T00:00:00Z +-$/);
  const url = daemon.seen[0]!.url;
  assert.deepEqual(url.searchParams.getAll("label"), ["job=ci", "team=a"]);
  assert.equal(url.searchParams.get("status"), "ready");
});

test("strata --json sandboxes get prints the sandbox as JSON", async () => {
  await using daemon = await fakeDaemon(() => ({ json: sandbox({ labels: { x: "y" } }) }));
  const { code, stdout } = await strata(daemon.url, ["--json", "sandboxes", "get", ID]);
  assert.equal(code, 0);
  assert.deepEqual(JSON.parse(stdout), sandbox({ labels: { x: "y" } }));
});

test("strata sandboxes kill deletes the sandbox; a missing one exits 1 with a hint", async () => {
  let status: SandboxInfo["status"] = "ready";
  await using daemon = await fakeDaemon((req) => {
    if (req.url.pathname.endsWith("/sbx_nope")) {
      return { status: 404, json: { code: "sandbox_not_found", message: "No sandbox" } };
    }
    if (req.method === "DELETE") {
      status = "stopped";
      return { status: 204 };
    }
    return { json: sandbox({ status }) };
  });
  const killed = await strata(daemon.url, ["sandboxes", "kill", ID]);
  assert.equal(killed.code, 0, killed.stderr);
  assert.equal(killed.stdout, `Killed sandbox ${ID}.\n`);
  assert.ok(
    daemon.seen.some((r) => r.method === "DELETE" && r.url.pathname === `/v1/sandboxes/${ID}`),
  );
  const missing = await strata(daemon.url, ["sandboxes", "kill", "sbx_nope"]);
  assert.equal(missing.code, 1);
  assert.match(
    missing.stderr,
    /^error: Sandbox "sbx_nope" not found\nhint: run "strata sandboxes list"/m,
  );
});

test("strata sandboxes exec refuses a stopped sandbox with a hint", async () => {
  await using daemon = await fakeDaemon(() => ({ json: sandbox({ status: "stopped" }) }));
  const { code, stderr } = await strata(daemon.url, ["sandboxes", "exec", ID, "--", "true"]);
  assert.equal(code, 1);
  assert.match(stderr, /it is stopped\nhint: create a new one/);
});

test("strata sandboxes exits 2 on malformed options before contacting the daemon", async () => {
  for (const args of [
    ["create", "--label", "novalue"],
    ["create", "--volume", "data"],
    ["create", "--cpus", "lots"],
    ["create", "--port", "70000"],
    ["create", "--timeout", "soon"],
    ["create", "--memory", "big"],
    ["list", "--status", "sleeping"],
    ["exec", ID],
  ]) {
    const { code, stderr } = await strata("http://127.0.0.1:1", ["sandboxes", ...args]);
    assert.equal(code, 2, `${args.join(" ")}: ${stderr}`);
  }
});
