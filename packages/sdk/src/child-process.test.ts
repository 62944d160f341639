import assert from "node:assert/strict";
import { test } from "node:test";
import { readAll } from "./bytes.ts";
import { Client } from "./client.ts";
import { ApiError, StrataError } from "./errors.ts";
import type { Sandbox } from "./sandbox.ts";
import {
  type ExecScript,
  type FakeExec,
  type Reply,
  type SeenRequest,
  sandboxFixture,
  startFakeDaemon,
} from "./test-server.ts";

const TOKEN = "stk_test";
const ID = "sbx_0123456789abcdefghij";
const decoder = new TextDecoder();
const T = { timeout: 10_000 };

/**
 * A daemon with one sandbox (whose REST status is `status`) that plays `script` on every
 * exec WebSocket, or refuses the handshake with `refuse`.
 */
async function execDaemon(
  script: ExecScript,
  options: { refuse?: Reply; status?: "ready" | "stopped" } = {},
) {
  const daemon = await startFakeDaemon(
    (req: SeenRequest) => {
      if (req.url.pathname === `/v1/sandboxes/${ID}`)
        return { json: sandboxFixture({ status: options.status ?? "ready" }) };
      return { status: 404, json: { code: "not_found", message: "no route" } };
    },
    { exec: () => options.refuse ?? script },
  );
  const client = new Client({ endpoint: daemon.url, token: TOKEN });
  const sandbox = (await client.sandboxes.get(ID)) as Sandbox;
  daemon.requests.length = 0;
  return { daemon, sandbox };
}

/** A script that hands its FakeExec to the test, which plays the daemon's side itself. */
function handOver(): { script: ExecScript; exec: Promise<FakeExec> } {
  const exec = Promise.withResolvers<FakeExec>();
  return { script: (e) => exec.resolve(e), exec: exec.promise };
}

async function nextChunk(stream: ReadableStream<Uint8Array>): Promise<string | undefined> {
  const reader = stream.getReader();
  try {
    const { value } = await reader.read();
    return value === undefined ? undefined : decoder.decode(value);
  } finally {
    reader.releaseLock();
  }
}

test(
  "spawn() sends the start message with the token and streams stdout and stderr as they come",
  T,
  async () => {
    const { script, exec: execP } = handOver();
    const { daemon, sandbox } = await execDaemon(script);
    await using _ = daemon;
    const spawning = sandbox.spawn(["python3", "-u", "train.py"], {
      cwd: "/srv",
      env: { EPOCHS: "3" },
    });
    const exec = await execP;
    assert.deepEqual(await exec.start, {
      argv: ["python3", "-u", "train.py"],
      cwd: "/srv",
      env: { EPOCHS: "3" },
      stdin: false,
    });
    const [handshake] = daemon.requests;
    assert.equal(handshake?.url.pathname, `/v1/sandboxes/${ID}/exec/ws`);
    assert.equal(handshake?.headers.authorization, `Bearer ${TOKEN}`);
    exec.started(4242);
    const child = await spawning;
    assert.equal(child.pid, 4242);
    assert.equal(child.stdin, null);
    // Each chunk is read before the next is sent: output arrives while the process runs.
    exec.stdout("epoch 1\n");
    assert.equal(await nextChunk(child.stdout), "epoch 1\n");
    exec.stderr("warning: slow\n");
    assert.equal(await nextChunk(child.stderr), "warning: slow\n");
    exec.stdout("epoch 2\n");
    assert.equal(await nextChunk(child.stdout), "epoch 2\n");
    exec.exit({ exitCode: 0 });
    assert.deepEqual(await child.status, { success: true, code: 0, signal: null });
    assert.equal(await nextChunk(child.stdout), undefined, "stdout ends with the process");
    assert.equal(await nextChunk(child.stderr), undefined);
    assert.equal((await exec.closed).code, 1000);
  },
);

test(
  "a sh`…`.spawn() sends its command line; output() collects what was not read and the exit code",
  T,
  async () => {
    const { daemon, sandbox } = await execDaemon(async (exec) => {
      assert.deepEqual(await exec.start, { command: "make test", stdin: false });
      exec.started(7);
      exec.stdout("ok 1\n");
      exec.stderr("not ok 2\n");
      exec.stdout("ok 3\n");
      exec.exit({ exitCode: 2 });
    });
    await using _ = daemon;
    const child = await sandbox.sh`make test`.spawn();
    const out = await child.output();
    assert.equal(out.stdoutText, "ok 1\nok 3\n");
    assert.equal(out.stderrText, "not ok 2\n");
    assert.deepEqual(out.status, { success: false, code: 2, signal: null });
  },
);

test(
  "stdin: writes arrive in order as binary frames of at most 256 KiB, and close sends stdin_close",
  T,
  async () => {
    const { script, exec: execP } = handOver();
    const { daemon, sandbox } = await execDaemon(script);
    await using _ = daemon;
    const spawning = sandbox.spawn("cat", { stdin: "piped" });
    const exec = await execP;
    assert.deepEqual(await exec.start, { command: "cat", stdin: true });
    exec.started(9);
    const child = await spawning;
    assert.ok(child.stdin);
    const big = new Uint8Array(600 * 1024).map((_, i) => i % 251);
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode("hello\n"));
    await writer.write(big);
    await writer.close();
    const frames: Buffer[] = [];
    for (;;) {
      const input = await exec.next();
      assert.ok(input, "the connection is still open");
      if ("control" in input) {
        assert.deepEqual(input.control, { type: "stdin_close" });
        break;
      }
      frames.push(input.stdin);
    }
    assert.equal(frames[0]?.toString(), "hello\n");
    assert.ok(frames.slice(1).every((f) => f.length <= 256 * 1024));
    assert.equal(frames.length, 4, "600 KiB goes in three frames");
    assert.deepEqual(new Uint8Array(Buffer.concat(frames.slice(1))), big);
    exec.exit({ exitCode: 0 });
    assert.equal((await child.status).success, true);
  },
);

test(
  "kill() signals the process and the status reports the signal; a kill after the end is a no-op",
  T,
  async () => {
    const { script, exec: execP } = handOver();
    const { daemon, sandbox } = await execDaemon(script);
    await using _ = daemon;
    const spawning = sandbox.spawn(["sleep", "600"]);
    const exec = await execP;
    exec.started(11);
    const child = await spawning;
    await child.kill();
    assert.deepEqual(await exec.next(), { control: { type: "signal", signal: "SIGTERM" } });
    await child.kill("SIGKILL");
    assert.deepEqual(await exec.next(), { control: { type: "signal", signal: "SIGKILL" } });
    exec.exit({ exitCode: null, signal: "SIGKILL" });
    assert.deepEqual(await child.status, { success: false, code: 137, signal: "SIGKILL" });
    await child.kill("SIGTERM");
  },
);

test("disposing a running process kills it with SIGKILL and waits for its end", T, async () => {
  const { script, exec: execP } = handOver();
  const { daemon, sandbox } = await execDaemon(script);
  await using _ = daemon;
  const spawning = sandbox.spawn(["tail", "-f", "/var/log/app.log"]);
  const exec = await execP;
  exec.started(12);
  const child = await spawning;
  const disposed = child[Symbol.asyncDispose]();
  assert.deepEqual(await exec.next(), { control: { type: "signal", signal: "SIGKILL" } });
  exec.exit({ exitCode: null, signal: "SIGKILL" });
  await disposed;
  assert.equal((await child.status).signal, "SIGKILL");
});

test(
  "a command that could not start has pid null, its message on stderr and exit 127",
  T,
  async () => {
    const { daemon, sandbox } = await execDaemon(async (exec) => {
      await exec.start;
      exec.started(null);
      exec.stderr("sh: 1: nope: not found\n");
      exec.exit({ exitCode: 127 });
    });
    await using _ = daemon;
    const child = await sandbox.spawn("nope");
    assert.equal(child.pid, null);
    const out = await child.output();
    assert.equal(out.stderrText, "sh: 1: nope: not found\n");
    assert.deepEqual(out.status, { success: false, code: 127, signal: null });
  },
);

test(
  "a dropped connection rejects the status and errors both streams with connection_closed",
  T,
  async () => {
    const { script, exec: execP } = handOver();
    const { daemon, sandbox } = await execDaemon(script);
    await using _ = daemon;
    const spawning = sandbox.spawn(["sleep", "600"], { stdin: "piped" });
    const exec = await execP;
    exec.started(13);
    const child = await spawning;
    exec.stdout("partial");
    assert.equal(await nextChunk(child.stdout), "partial");
    exec.drop();
    await assert.rejects(child.status, (e: unknown) => {
      assert.ok(e instanceof StrataError);
      assert.equal(e.code, "connection_closed");
      assert.match(
        e.message,
        new RegExp(`sandbox ${ID} closed .*before it reported its exit status`),
      );
      return true;
    });
    await assert.rejects(readAll(child.stdout), { code: "connection_closed" });
    await assert.rejects(readAll(child.stderr), { code: "connection_closed" });
    const writer = child.stdin!.getWriter();
    await assert.rejects(writer.write(new Uint8Array([1])), { code: "connection_closed" });
  },
);

test(
  "an error the daemon reports before the start rejects spawn() with its code and request id",
  T,
  async () => {
    const { daemon, sandbox } = await execDaemon(async (exec) => {
      await exec.start;
      exec.fail({ code: "sandbox_paused", message: "Sandbox is paused", requestId: "req-7" });
    });
    await using _ = daemon;
    await assert.rejects(sandbox.spawn("true"), (e: unknown) => {
      assert.ok(e instanceof ApiError);
      assert.equal(e.code, "sandbox_paused");
      assert.equal(e.message, "Sandbox is paused");
      assert.equal(e.requestId, "req-7");
      return true;
    });
  },
);

test(
  "an error the daemon reports after the start rejects the status and the streams with it",
  T,
  async () => {
    const { daemon, sandbox } = await execDaemon(async (exec) => {
      await exec.start;
      exec.started(14);
      exec.stdout("some output\n");
      exec.fail({ code: "internal", message: "The agent went away" });
    });
    await using _ = daemon;
    const child = await sandbox.spawn("make");
    await assert.rejects(child.status, { name: "ApiError", code: "internal" });
    await assert.rejects(readAll(child.stdout), { code: "internal" });
  },
);

test(
  "a refused handshake is explained over REST: a stopped sandbox is sandbox_not_running",
  T,
  async () => {
    const never: ExecScript = () => assert.fail("the handshake was accepted");
    const refuse = { status: 409, json: { code: "sandbox_not_running", message: "stopped" } };
    const stopped = await execDaemon(never, { refuse, status: "stopped" });
    await using _a = stopped.daemon;
    await assert.rejects(stopped.sandbox.spawn("true"), (e: unknown) => {
      assert.ok(e instanceof StrataError);
      assert.equal(e.code, "sandbox_not_running");
      assert.match(e.message, new RegExp(`Cannot run a command in sandbox ${ID}: it is stopped`));
      return true;
    });
    assert.deepEqual(
      stopped.daemon.requests.map((r) => r.url.pathname),
      [`/v1/sandboxes/${ID}/exec/ws`, `/v1/sandboxes/${ID}`],
    );

    const ready = await execDaemon(never, { refuse: { status: 401, json: {} } });
    await using _b = ready.daemon;
    await assert.rejects(ready.sandbox.spawn("true"), (e: unknown) => {
      assert.ok(e instanceof StrataError);
      assert.equal(e.code, "connection_closed");
      assert.match(e.message, /the daemon refused the connection/);
      return true;
    });
  },
);
