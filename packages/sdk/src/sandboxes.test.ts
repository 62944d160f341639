import assert from "node:assert/strict";
import { test } from "node:test";
import type { ExecRequest } from "@strata/api";
import { Client } from "./client.ts";
import { ApiError, CommandError, FsError, StrataError } from "./errors.ts";
import { Sandbox } from "./sandbox.ts";
import {
  execReply,
  type Reply,
  type SeenRequest,
  sandboxFixture,
  startFakeDaemon,
} from "./test-server.ts";

const TOKEN = "stk_test";
const ID = "sbx_0123456789abcdefghij";

/** A daemon with one ready sandbox whose exec route answers with `exec(request)`. */
async function sandboxDaemon(exec: (req: ExecRequest) => Reply = () => execReply()) {
  let status: "ready" | "stopped" = "ready";
  const daemon = await startFakeDaemon((req: SeenRequest) => {
    const path = `${req.method} ${req.url.pathname}`;
    if (path === "POST /v1/sandboxes") {
      return { status: 201, json: sandboxFixture({ labels: { job: "t" } }) };
    }
    if (path === `GET /v1/sandboxes/${ID}`) return { json: sandboxFixture({ status }) };
    if (path === `DELETE /v1/sandboxes/${ID}`) {
      status = "stopped";
      return { status: 204 };
    }
    if (path === `POST /v1/sandboxes/${ID}/exec`) return exec(req.body as ExecRequest);
    return { status: 404, json: { code: "not_found", message: `No route for ${path}` } };
  });
  const client = new Client({ endpoint: daemon.url, token: TOKEN });
  const sandbox = await client.sandboxes.create();
  daemon.requests.length = 0;
  return { daemon, client, sandbox };
}

const execBodies = (requests: SeenRequest[]) =>
  requests.filter((r) => r.url.pathname.endsWith("/exec")).map((r) => r.body);

test("sh sends one exec with the quoted command line, only when awaited, and only once", async () => {
  const { daemon, sandbox } = await sandboxDaemon(() => execReply({ stdout: "hi\n" }));
  await using _ = daemon;
  const name = "it's $me";
  const cmd = sandbox.sh`echo ${name} ${["a b", "c"]}`.quiet();
  assert.equal(cmd.command, `echo 'it'"'"'s $me' 'a b' c`);
  assert.equal(daemon.requests.length, 0, "building a command sends nothing");
  const first = await cmd;
  const second = await cmd;
  assert.equal(first, second);
  assert.equal(first.stdoutText, "hi\n");
  assert.deepEqual(execBodies(daemon.requests), [{ command: `echo 'it'"'"'s $me' 'a b' c` }]);
});

test("builder modifiers combine in any order into the same request and result", async () => {
  const { daemon, sandbox } = await sandboxDaemon(() => execReply({ stdout: "x\n", exitCode: 3 }));
  await using _ = daemon;
  const a = await sandbox.sh`pwd`
    .cwd("/srv")
    .env({ A: "1" })
    .stdin("in")
    .text()
    .noThrow()
    .quiet()
    .env({ B: "2" });
  const b = await sandbox.sh`pwd`
    .quiet()
    .env({ B: "2" })
    .noThrow()
    .text()
    .stdin("in")
    .env({ A: "1" })
    .cwd("/srv");
  assert.equal(a, "x");
  assert.equal(b, "x");
  const [ra, rb] = execBodies(daemon.requests);
  const expected = {
    command: "pwd",
    cwd: "/srv",
    env: { A: "1", B: "2" },
    stdin: Buffer.from("in").toString("base64"),
  };
  assert.deepEqual(ra, expected);
  assert.deepEqual(rb, expected);
});

test("a non-zero exit rejects with a CommandError carrying code, signal and output", async () => {
  const { daemon, sandbox } = await sandboxDaemon(() =>
    execReply({ exitCode: 2, stdout: "partial", stderr: "ls: cannot access '/nope'\n" }),
  );
  await using _ = daemon;
  const err = await sandbox.sh`ls /nope`.quiet().then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof CommandError);
  assert.ok(err instanceof StrataError);
  assert.ok(!(err instanceof ApiError));
  assert.equal(err.code, "command_failed");
  assert.equal(err.exitCode, 2);
  assert.equal(err.signal, null);
  assert.equal(err.stdout, "partial");
  assert.equal(err.stderr, "ls: cannot access '/nope'\n");
  assert.match(err.message, /"ls \/nope" exited with code 2:\nls: cannot access/);
});

test("a process killed by a signal rejects with its signal and no exit code", async () => {
  const { daemon, sandbox } = await sandboxDaemon(() =>
    execReply({ exitCode: null, signal: "SIGKILL" }),
  );
  await using _ = daemon;
  await assert.rejects(async () => sandbox.sh`sleep 100`.quiet(), {
    name: "CommandError",
    exitCode: null,
    signal: "SIGKILL",
  });
  const out = await sandbox.sh`sleep 100`.quiet().noThrow();
  assert.deepEqual(out.status, { success: false, code: 137, signal: "SIGKILL" });
});

test("noThrow() resolves with the failed status, and text()/lines() still give stdout", async () => {
  const { daemon, sandbox } = await sandboxDaemon(() =>
    execReply({ exitCode: 1, stdout: "a\nb\n" }),
  );
  await using _ = daemon;
  const out = await sandbox.sh`false`.noThrow().quiet();
  assert.deepEqual(out.status, { success: false, code: 1, signal: null });
  assert.deepEqual(await sandbox.sh`x`.noThrow().lines().quiet(), ["a", "b"]);
  assert.equal(await sandbox.sh`x`.quiet().text().noThrow(), "a\nb");
});

test("text() drops trailing newlines, lines() splits, json() parses", async () => {
  const outputs: Record<string, string> = {
    text: "v20.1.0\n\n",
    lines: "one\r\ntwo\nthree\n",
    empty: "",
    json: '{"name":"app","n":[1,2]}\n',
    bad: "not json",
  };
  const { daemon, sandbox } = await sandboxDaemon((req) =>
    execReply({ stdout: outputs[req.command ?? ""] }),
  );
  await using _ = daemon;
  assert.equal(await sandbox.sh`text`.text(), "v20.1.0");
  assert.deepEqual(await sandbox.sh`lines`.lines(), ["one", "two", "three"]);
  assert.deepEqual(await sandbox.sh`empty`.lines(), []);
  assert.deepEqual(await sandbox.sh`json`.json(), { name: "app", n: [1, 2] });
  await assert.rejects(
    async () => sandbox.sh`bad`.json(),
    (err: unknown) => {
      assert.ok(err instanceof StrataError);
      assert.equal(err.code, "invalid_output");
      assert.match(err.message, /"bad" printed output that is not JSON/);
      return true;
    },
  );
});

test("output goes to this process's stdout and stderr unless quiet; text() keeps stdout", async (t) => {
  const { daemon, sandbox } = await sandboxDaemon(() =>
    execReply({ stdout: "OUT\n", stderr: "ERR\n" }),
  );
  await using _ = daemon;
  const seen = async (run: () => PromiseLike<unknown>) => {
    const out = t.mock.method(process.stdout, "write", () => true);
    const err = t.mock.method(process.stderr, "write", () => true);
    try {
      await run();
    } finally {
      out.mock.restore();
      err.mock.restore();
    }
    const text = (calls: { arguments: unknown[] }[]) =>
      calls.map((c) => Buffer.from(c.arguments[0] as Uint8Array).toString()).join("");
    return { stdout: text(out.mock.calls), stderr: text(err.mock.calls) };
  };
  assert.deepEqual(await seen(() => sandbox.sh`x`), { stdout: "OUT\n", stderr: "ERR\n" });
  assert.deepEqual(await seen(() => sandbox.sh`x`.text()), { stdout: "", stderr: "ERR\n" });
  assert.deepEqual(await seen(() => sandbox.sh`x`.quiet()), { stdout: "", stderr: "" });
});

test("exec() sends an argv or a command line and returns a failure as data", async () => {
  const { daemon, sandbox } = await sandboxDaemon(() =>
    execReply({ exitCode: 127, stderr: "strata: nope: command not found\n" }),
  );
  await using _ = daemon;
  const out = await sandbox.exec(["nope", "a b"], { cwd: "/tmp", env: { X: "1" }, stdin: "hi" });
  assert.equal(out.status.code, 127);
  assert.equal(out.status.success, false);
  assert.match(out.stderrText, /command not found/);
  await sandbox.exec("echo $HOME");
  assert.deepEqual(execBodies(daemon.requests), [
    {
      argv: ["nope", "a b"],
      cwd: "/tmp",
      env: { X: "1" },
      stdin: Buffer.from("hi").toString("base64"),
    },
    { command: "echo $HOME" },
  ]);
});

test("a sandbox from create() is killed on dispose; one from get() is not", async () => {
  const { daemon, client } = await sandboxDaemon();
  await using _ = daemon;
  {
    await using got = await client.sandboxes.get(ID);
    assert.ok(got);
    assert.equal(got.status, "ready");
  }
  assert.deepEqual(
    daemon.requests.map((r) => r.method),
    ["GET"],
    "disposing a get() handle sends nothing",
  );
  daemon.requests.length = 0;
  let created: Sandbox | undefined;
  {
    await using sandbox = await client.sandboxes.create({ labels: { job: "t" }, memory: "1GiB" });
    created = sandbox;
    assert.deepEqual(sandbox.labels, { job: "t" });
  }
  assert.deepEqual(
    daemon.requests.map((r) => `${r.method} ${r.url.pathname}`),
    ["POST /v1/sandboxes", `DELETE /v1/sandboxes/${ID}`, `GET /v1/sandboxes/${ID}`],
  );
  assert.deepEqual(daemon.requests[0]?.body, { labels: { job: "t" }, memory: "1GiB" });
  assert.equal(created.status, "stopped");
});

test("disposing a created sandbox that is already gone is not an error", async () => {
  await using daemon = await startFakeDaemon((req) =>
    req.method === "POST"
      ? { status: 201, json: sandboxFixture() }
      : { status: 404, json: { code: "sandbox_not_found", message: "No sandbox" } },
  );
  const sandbox = await Sandbox.create({ endpoint: daemon.url, token: TOKEN });
  await sandbox[Symbol.asyncDispose]();
  assert.equal(daemon.requests[1]?.method, "DELETE");
});

test("sandboxes.get() returns null for a missing sandbox", async () => {
  await using daemon = await startFakeDaemon(() => ({
    status: 404,
    json: { code: "sandbox_not_found", message: "No sandbox" },
  }));
  const client = new Client({ endpoint: daemon.url, token: TOKEN });
  assert.equal(await client.sandboxes.get("sbx_nope"), null);
});

test("sandboxes.list() filters by repeated labels and status and yields handles", async () => {
  await using daemon = await startFakeDaemon(() => ({
    json: [sandboxFixture({ labels: { a: "1", b: "x=y" } })],
  }));
  const client = new Client({ endpoint: daemon.url, token: TOKEN });
  const ids: string[] = [];
  for await (const s of await client.sandboxes.list({
    labels: { a: "1", b: "x=y" },
    status: "ready",
  })) {
    assert.ok(s instanceof Sandbox);
    ids.push(s.id);
  }
  assert.deepEqual(ids, [ID]);
  const url = daemon.requests[0]!.url;
  assert.deepEqual(url.searchParams.getAll("label"), ["a=1", "b=x=y"]);
  assert.equal(url.searchParams.get("status"), "ready");
});

test("extendTimeout() PATCHes the timeout and returns the new expiry", async () => {
  const expiresAt = "2030-01-01T00:00:00.000Z";
  await using daemon = await startFakeDaemon((req) =>
    req.method === "PATCH" ? { json: sandboxFixture({ expiresAt }) } : { json: sandboxFixture() },
  );
  const client = new Client({ endpoint: daemon.url, token: TOKEN });
  const sandbox = (await client.sandboxes.get(ID))!;
  assert.equal((await sandbox.extendTimeout("30m")).toISOString(), expiresAt);
  assert.equal(sandbox.info.expiresAt, expiresAt);
  assert.deepEqual(daemon.requests[1]?.body, { timeout: "30m" });
});

test("fs maps listings and stats, sends raw bytes, and turns errno answers into FsError", async () => {
  await using daemon = await startFakeDaemon((req) => {
    const p = req.url.searchParams.get("path");
    const route = `${req.method} ${req.url.pathname.replace(`/v1/sandboxes/${ID}`, "")}`;
    if (route === "GET ") return { json: sandboxFixture() };
    if (route === "GET /files/list") {
      return {
        json: [
          { name: "a", type: "file" },
          { name: "d", type: "directory" },
          { name: "l", type: "symlink" },
        ],
      };
    }
    if (route === "GET /files/stat" && p === "/srv/a") {
      return {
        json: {
          path: p,
          type: "file",
          mode: 0o640,
          uid: 0,
          gid: 0,
          size: 3,
          mtime: "2025-02-03T04:05:06.000Z",
          linkTarget: null,
        },
      };
    }
    if (route === "PUT /files/content") return { status: 204 };
    if (route === "GET /files/content" && p === "/bin.dat") return { bytes: Buffer.from([0, 255]) };
    return {
      status: 404,
      json: { code: "file_not_found", errno: "ENOENT", message: `No such file: "${p}"` },
    };
  });
  const client = new Client({ endpoint: daemon.url, token: TOKEN });
  const { fs } = (await client.sandboxes.get(ID)) ?? assert.fail("no sandbox");
  daemon.requests.length = 0;

  assert.deepEqual(await fs.readDir("/srv"), [
    { name: "a", isFile: true, isDirectory: false, isSymlink: false },
    { name: "d", isFile: false, isDirectory: true, isSymlink: false },
    { name: "l", isFile: false, isDirectory: false, isSymlink: true },
  ]);
  const info = await fs.stat("/srv/a");
  assert.equal(info.isFile, true);
  assert.equal(info.mode, 0o640);
  assert.equal(info.mtime.getTime(), Date.UTC(2025, 1, 3, 4, 5, 6));
  assert.deepEqual(await fs.readFile("/bin.dat"), new Uint8Array([0, 255]));

  await fs.writeFile("/srv/b", new Uint8Array([1, 2, 3]), { mode: 0o600 });
  const put = daemon.requests.find((r) => r.method === "PUT")!;
  assert.equal(put.headers["content-type"], "application/octet-stream");
  assert.deepEqual([...put.rawBody], [1, 2, 3]);
  assert.equal(put.url.searchParams.get("mode"), String(0o600));

  await assert.rejects(fs.readTextFile("/missing"), (err: unknown) => {
    assert.ok(err instanceof FsError);
    assert.ok(err instanceof ApiError);
    assert.equal(err.errno, "ENOENT");
    assert.equal(err.code, "file_not_found");
    assert.equal(err.path, "/missing");
    return true;
  });
  assert.equal(await fs.exists("/missing"), false);
  assert.equal(await fs.exists("/srv/a"), true);
});
