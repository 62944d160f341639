import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import { before, test } from "node:test";
import { AgentClient, AgentError } from "./client.ts";
import { OUTPUT_WINDOW } from "./protocol.ts";
import {
  AGENT_PATH,
  buildAgent,
  bytesOf,
  ENV,
  isAlive,
  isRunningOrZombie,
  startAgent,
  textOf,
  vmRssKiB,
  waitUntil,
} from "./test-agent.ts";

const T = { timeout: 60_000 };

before(() => buildAgent());

test("connect() resolves on READY; the idle agent is small", T, async (t) => {
  await using agent = await startAgent();
  t.diagnostic(`binary ${(statSync(AGENT_PATH).size / 1024).toFixed(0)} KiB`);
  t.diagnostic(`idle VmRSS ${vmRssKiB(agent.child.pid!)} KiB`);
  const proc = await agent.client.exec({ argv: ["true"], env: ENV });
  await proc.exited;
  t.diagnostic(`VmRSS after a process ${vmRssKiB(agent.child.pid!)} KiB`);
});

test("connect() rejects with agent_gone when the stream closes before READY", T, async () => {
  const child = spawn("true", [], { stdio: ["ignore", "inherit", "inherit", "pipe"] });
  await assert.rejects(AgentClient.connect(child.stdio[3] as Duplex), { code: "agent_gone" });
});

test("exec() runs echo: output, then exit code 0", T, async () => {
  await using agent = await startAgent();
  const proc = await agent.client.exec({ argv: ["echo", "hello", "world"], env: ENV });
  assert.ok(proc.pid > 0);
  const [out, err, status] = await Promise.all([
    textOf(proc.stdout),
    textOf(proc.stderr),
    proc.exited,
  ]);
  assert.equal(out, "hello world\n");
  assert.equal(err, "");
  assert.deepEqual(status, { code: 0, signal: null });
});

test("exited reports the exit code of sh -c 'exit 7'", T, async () => {
  await using agent = await startAgent();
  const proc = await agent.client.exec({ argv: ["sh", "-c", "exit 7"], env: ENV });
  assert.deepEqual(await proc.exited, { code: 7, signal: null });
});

test("exec() passes env and cwd, and looks argv[0] up in env.PATH", T, async () => {
  await using agent = await startAgent();
  const proc = await agent.client.exec({
    argv: ["sh", "-c", 'echo "$GREETING"; pwd; echo "$HOME"'],
    env: { ...ENV, GREETING: "snow ☃" },
    cwd: "/tmp",
  });
  // HOME is unset: the environment is exactly what was given.
  assert.equal(await textOf(proc.stdout), "snow ☃\n/tmp\n\n");
});

test("signal('SIGTERM') kills a sleep and exited reports SIGTERM", T, async () => {
  await using agent = await startAgent();
  const proc = await agent.client.exec({ argv: ["sleep", "100"], env: ENV });
  await proc.signal("SIGTERM");
  assert.deepEqual(await proc.exited, { code: null, signal: "SIGTERM" });
});

test("signal() reaches the whole process group, background jobs included", T, async () => {
  await using agent = await startAgent();
  const proc = await agent.client.exec({
    argv: ["sh", "-c", "sleep 100 & echo $!; wait"],
    env: ENV,
  });
  const line = await new Promise<string>((res) => proc.stdout.once("data", (b) => res(`${b}`)));
  const sleepPid = Number(line.trim());
  await proc.signal("SIGKILL");
  assert.deepEqual(await proc.exited, { code: null, signal: "SIGKILL" });
  await waitUntil("the background sleep is gone", () => isRunningOrZombie(sleepPid) === "gone");
});

test("exec() rejects with an AgentError when the command cannot start", T, async () => {
  await using agent = await startAgent();
  const run = (argv: string[], cwd?: string) => agent.client.exec({ argv, env: ENV, cwd });
  await assert.rejects(run(["/nonexistent/binary"]), (e: unknown) => {
    assert.ok(e instanceof AgentError);
    assert.equal(e.code, "ENOENT");
    assert.equal(e.errno, 2);
    assert.match(e.message, /Cannot run "\/nonexistent\/binary": exec: No such file/);
    return true;
  });
  await assert.rejects(run(["no-such-command-anywhere"]), { code: "ENOENT" });
  await assert.rejects(run(["true"], "/nonexistent"), { code: "ENOENT", message: /chdir/ });
  const dir = mkdtempSync(join(tmpdir(), "strata-agent-test-"));
  try {
    const script = join(dir, "not-executable");
    writeFileSync(script, "#!/bin/sh\n");
    chmodSync(script, 0o644);
    await assert.rejects(run([script]), { code: "EACCES" });
  } finally {
    rmSync(dir, { recursive: true });
  }
  await assert.rejects(run([]), { code: "EINVAL" });
  await assert.rejects(run(["echo", "nul\0byte"]), { code: "EINVAL" });
  // The agent is still serving after all that.
  const proc = await run(["true"]);
  assert.deepEqual(await proc.exited, { code: 0, signal: null });
});

test("exec() runs as the given uid and gid", { ...T, skip: process.getuid?.() !== 0 }, async () => {
  await using agent = await startAgent();
  const script = 'echo "$(id -u) $(id -g) $(id -G)"';
  const argv = ["sh", "-c", script];
  const proc = await agent.client.exec({ argv, env: ENV, uid: 65534, gid: 65534 });
  assert.equal(await textOf(proc.stdout), "65534 65534 65534\n");
});

test("exec() fails with EPERM for another uid when not root", {
  ...T,
  skip: process.getuid?.() === 0,
}, async () => {
  await using agent = await startAgent();
  await assert.rejects(agent.client.exec({ argv: ["id"], env: ENV, uid: 0 }), { code: "EPERM" });
});

test("stdin written to cat comes back on stdout", T, async () => {
  await using agent = await startAgent();
  const proc = await agent.client.exec({ argv: ["cat"], env: ENV, stdin: true });
  const input = randomBytes(1024 * 1024 + 7);
  const output = bytesOf(proc.stdout);
  await proc.writeStdin(input.subarray(0, 1000));
  await proc.writeStdin(input.subarray(1000));
  await proc.closeStdin();
  assert.ok((await output).equals(input));
  assert.deepEqual(await proc.exited, { code: 0, signal: null });
});

test("writeStdin() does not hang when the process stops reading", T, async () => {
  await using agent = await startAgent();
  const proc = await agent.client.exec({ argv: ["head", "-c", "10"], env: ENV, stdin: true });
  const output = textOf(proc.stdout);
  await proc.writeStdin(Buffer.alloc(4 * 1024 * 1024, "a"));
  await proc.closeStdin();
  assert.equal(await output, "a".repeat(10));
  assert.deepEqual(await proc.exited, { code: 0, signal: null });
});

test("20 concurrent processes each get their own input and output", T, async () => {
  await using agent = await startAgent();
  const procs = await Promise.all(
    Array.from({ length: 20 }, () => agent.client.exec({ argv: ["cat"], env: ENV, stdin: true })),
  );
  assert.equal(new Set(procs.map((p) => p.pid)).size, 20);
  const outputs = procs.map((p) => textOf(p.stdout));
  await Promise.all(
    procs.map(async (p, i) => {
      await p.writeStdin(Buffer.from(`process ${i}\n`.repeat(1000)));
      await p.closeStdin();
    }),
  );
  const results = await Promise.all(outputs);
  for (const [i, out] of results.entries()) assert.equal(out, `process ${i}\n`.repeat(1000));
  for (const p of procs) assert.deepEqual(await p.exited, { code: 0, signal: null });
});

test("interleaved stdout and stderr arrive on their own streams", T, async () => {
  await using agent = await startAgent();
  const script = "for i in 1 2 3 4 5; do echo out$i; echo err$i >&2; done";
  const proc = await agent.client.exec({ argv: ["sh", "-c", script], env: ENV });
  const [out, err] = await Promise.all([textOf(proc.stdout), textOf(proc.stderr)]);
  assert.equal(out, "out1\nout2\nout3\nout4\nout5\n");
  assert.equal(err, "err1\nerr2\nerr3\nerr4\nerr5\n");
});

test("20 MB of output arrive complete before EXIT", T, async () => {
  await using agent = await startAgent();
  const count = 2_800_000;
  const expected = createHash("sha256");
  let expectedLength = 0;
  for (let i = 1; i <= count; i += 100_000) {
    const lines = `${Array.from({ length: Math.min(100_000, count - i + 1) }, (_, j) => i + j).join("\n")}\n`;
    expected.update(lines);
    expectedLength += lines.length;
  }
  const proc = await agent.client.exec({ argv: ["seq", "1", String(count)], env: ENV });
  const hash = createHash("sha256");
  let consumed = 0;
  let atExit = -1;
  proc.exited.then(() => {
    atExit = consumed + proc.stdout.readableLength;
  });
  // 'data' (not for-await, which holds a chunk in flight) keeps the count exact.
  proc.stdout.on("data", (chunk: Buffer) => {
    hash.update(chunk);
    consumed += chunk.length;
  });
  await Promise.all([once(proc.stdout, "end"), proc.exited]);
  assert.ok(expectedLength > 20_000_000);
  assert.equal(consumed, expectedLength);
  assert.equal(atExit, expectedLength, "every byte was received when EXIT arrived");
  assert.equal(hash.digest("hex"), expected.digest("hex"));
});

test("a reader that stops reading stalls the process instead of filling memory", T, async () => {
  await using agent = await startAgent();
  const script = "head -c 8000000 /dev/zero; echo done >&2";
  const proc = await agent.client.exec({ argv: ["sh", "-c", script], env: ENV });
  let exited = false;
  proc.exited.then(() => {
    exited = true;
  });
  // Nobody reads stdout: the agent may send one window, then the pipe fills.
  await waitUntil("a window of output arrived", () => proc.stdout.readableLength >= OUTPUT_WINDOW);
  // No event says "nothing more will come": watch for a while that nothing does.
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(proc.stdout.readableLength, OUTPUT_WINDOW);
  assert.equal(exited, false);
  const [out, err] = await Promise.all([bytesOf(proc.stdout), textOf(proc.stderr)]);
  assert.equal(out.length, 8_000_000);
  assert.equal(err, "done\n");
  assert.deepEqual(await proc.exited, { code: 0, signal: null });
});

test("signal() still works while a flooding process's reader has stopped", T, async () => {
  await using agent = await startAgent();
  const proc = await agent.client.exec({ argv: ["yes"], env: ENV });
  await waitUntil("a window of output arrived", () => proc.stdout.readableLength >= OUTPUT_WINDOW);
  await proc.signal("SIGKILL");
  // EXIT still follows the output that was in the pipe: it must be read.
  proc.stdout.resume();
  assert.deepEqual(await proc.exited, { code: null, signal: "SIGKILL" });
});

test("requests are served while several processes flood their output", T, async (t) => {
  await using agent = await startAgent();
  const floods = await Promise.all(
    Array.from({ length: 5 }, () => agent.client.exec({ argv: ["yes"], env: ENV })),
  );
  let flooded = 0;
  for (const f of floods) f.stdout.on("data", (b: Buffer) => (flooded += b.length));
  await waitUntil("output flows", () => flooded > 10 * 1024 * 1024);
  const echo = await agent.client.exec({ argv: ["echo", "still here"], env: ENV });
  assert.equal(await textOf(echo.stdout), "still here\n");
  assert.equal((await agent.client.stat("/")).type, "directory");
  t.diagnostic(`VmRSS while flooding ${vmRssKiB(agent.child.pid!)} KiB`);
  await Promise.all(floods.map((f) => f.signal("SIGKILL")));
  for (const f of floods) assert.equal((await f.exited).signal, "SIGKILL");
});

test("processes inherit no descriptor but stdin, stdout and stderr", T, async () => {
  await using agent = await startAgent();
  const proc = await agent.client.exec({ argv: ["sh", "-c", "ls /proc/$$/fd"], env: ENV });
  assert.equal(await textOf(proc.stdout), "0\n1\n2\n");
});

test("a background grandchild holding stdout open does not delay EXIT", T, async () => {
  // Semantics: EXIT follows the reap of the process plus the output that was in its
  // pipes at that moment; descendants that keep the pipes open are not waited for.
  await using agent = await startAgent();
  const script = "sleep 30 & echo $!; head -c 300000 /dev/zero | tr '\\0' x";
  const proc = await agent.client.exec({ argv: ["sh", "-c", script], env: ENV });
  const [out, status] = await Promise.all([textOf(proc.stdout), proc.exited]);
  assert.deepEqual(status, { code: 0, signal: null });
  const [pidLine, rest] = out.split("\n");
  const sleepPid = Number(pidLine);
  assert.equal(rest, "x".repeat(300_000), "all output of the process itself arrived");
  try {
    assert.equal(isRunningOrZombie(sleepPid), "running", "EXIT came while the sleep still ran");
    await agent.client.close();
    assert.deepEqual(await agent.exit, { code: 0, signal: null });
    assert.equal(isRunningOrZombie(sleepPid), "gone", "the agent killed the orphan on exit");
  } finally {
    if (isAlive(sleepPid)) process.kill(sleepPid, "SIGKILL");
  }
});

test("the agent reaps orphans it did not start", T, async () => {
  await using agent = await startAgent();
  const proc = await agent.client.exec({ argv: ["sh", "-c", "sleep 30 & echo $!"], env: ENV });
  const orphan = Number((await textOf(proc.stdout)).trim());
  await proc.exited;
  assert.equal(isRunningOrZombie(orphan), "running");
  // Its parent is gone: only the agent, as init (here: subreaper), can reap it.
  process.kill(orphan, "SIGTERM");
  await waitUntil("the orphan is reaped", () => isRunningOrZombie(orphan) === "gone");
});

test(
  "the agent exits 0 when the daemon closes the connection, killing its processes",
  T,
  async () => {
    const agent = await startAgent();
    const proc = await agent.client.exec({ argv: ["sleep", "100"], env: ENV });
    assert.equal(isRunningOrZombie(proc.pid), "running");
    await agent.client.close();
    assert.deepEqual(await agent.exit, { code: 0, signal: null });
    assert.equal(isRunningOrZombie(proc.pid), "gone");
    await assert.rejects(proc.exited, { code: "agent_gone" });
  },
);

test("end() resolves once the agent has killed its processes and closed its side", T, async () => {
  const agent = await startAgent();
  const proc = await agent.client.exec({ argv: ["sh", "-c", "sleep 100 & sleep 100"], env: ENV });
  assert.equal(isRunningOrZombie(proc.pid), "running");
  assert.equal(await agent.client.end(5000), true);
  // Nothing it started runs any more once end() resolved: the agent reaped them first.
  assert.equal(isRunningOrZombie(proc.pid), "gone");
  await assert.rejects(proc.exited, { code: "agent_gone" });
  assert.deepEqual(await agent.exit, { code: 0, signal: null });
});

test("end() resolves false when the agent does not close its side in time", T, async () => {
  const agent = await startAgent();
  agent.child.kill("SIGSTOP");
  try {
    assert.equal(await agent.client.end(200), false);
  } finally {
    agent.child.kill("SIGKILL");
    await agent.exit;
  }
  await agent.client.closed;
});

test("pending operations reject with agent_gone when the agent is terminated", T, async () => {
  const agent = await startAgent();
  const proc = await agent.client.exec({ argv: ["sleep", "100"], env: ENV });
  let stdoutError: unknown;
  proc.stdout.on("error", (e) => {
    stdoutError = e;
  });
  agent.child.kill("SIGTERM");
  await assert.rejects(
    proc.exited,
    (e: unknown) => e instanceof AgentError && e.code === "agent_gone",
  );
  await agent.client.closed;
  assert.deepEqual(await agent.exit, { code: 0, signal: null });
  assert.equal(isRunningOrZombie(proc.pid), "gone");
  assert.equal((stdoutError as AgentError | undefined)?.code, "agent_gone");
  await assert.rejects(agent.client.stat("/"), { code: "agent_gone" });
  await assert.rejects(agent.client.exec({ argv: ["true"], env: ENV }), { code: "agent_gone" });
});

test("exec true round trip latency", T, async (t) => {
  await using agent = await startAgent();
  const times: number[] = [];
  for (let i = 0; i < 200; i++) {
    const start = process.hrtime.bigint();
    const proc = await agent.client.exec({ argv: ["true"], env: ENV });
    await proc.exited;
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  times.sort((a, b) => a - b);
  const p = (q: number) => times[Math.floor(q * (times.length - 1))]!.toFixed(2);
  t.diagnostic(`exec true: p50 ${p(0.5)} ms, p90 ${p(0.9)} ms, p99 ${p(0.99)} ms`);
  t.diagnostic(`idle VmRSS after 200 processes ${vmRssKiB(agent.child.pid!)} KiB`);
});
