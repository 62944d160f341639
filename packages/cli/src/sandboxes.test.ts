import assert from "node:assert/strict";
import { test } from "node:test";
import type { SandboxInfo } from "@strata/sdk";
import { fakeDaemon, ID, sandbox, strata } from "./test-cli.ts";

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
    "mirror.example.org,*.example.net",
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
    allowNet: ["mirror.example.org", "*.example.net", "10.0.0.0/8"],
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
