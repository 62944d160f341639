/**
 * ProcessLauncher runs the real agent as an ordinary process: these tests need no root
 * (run them as any user) and look at the real processes in /proc.
 */
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, type TestContext, test } from "node:test";
import { parseAllowNet } from "../network/allow-net.ts";
import type { AgentClient } from "./agent/client.ts";
import { AGENT_PATH, buildAgent, ENV, isRunningOrZombie, textOf } from "./agent/test-agent.ts";
import { type LaunchSpec, SandboxStartError } from "./launcher.ts";
import { ProcessLauncher, type ProcessLauncherOptions } from "./process-launcher.ts";
import { processTree } from "./process-tree.ts";

const T = { timeout: 60_000 };
const dirs: string[] = [];
let serial = 0;

before(() => buildAgent());
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function newId(): string {
  return `sbx_${(serial++).toString().padStart(4, "0")}${"p".repeat(16)}`;
}

function spec(overrides: Partial<LaunchSpec> = {}): LaunchSpec {
  const rootPath = mkdtempSync(join(tmpdir(), "strata-pl-"));
  dirs.push(rootPath);
  return {
    id: newId(),
    rootPath,
    mounts: [],
    env: {},
    memoryBytes: 1024 ** 3,
    cpus: 1,
    allowNet: undefined,
    rootReady: Promise.resolve(),
    ...overrides,
  };
}

function recordingLog() {
  const lines: { level: string; msg: string; obj: object }[] = [];
  return {
    lines,
    warn: (obj: object, msg: string) => lines.push({ level: "warn", msg, obj }),
    error: (obj: object, msg: string) => lines.push({ level: "error", msg, obj }),
  };
}

async function run(agent: AgentClient, argv: string[]): Promise<string> {
  const p = await agent.exec({ argv, env: ENV });
  const [out, status] = await Promise.all([textOf(p.stdout), p.exited, textOf(p.stderr)]);
  assert.deepEqual(status, { code: 0, signal: null }, `${argv.join(" ")} failed`);
  return out;
}

/** The states of a process tree (T: stopped). */
async function states(root: number): Promise<string[]> {
  return [...(await processTree(root)).values()].map((p) => p.state);
}

/** Whether `p` has settled, without waiting for it: a macrotask runs after every reaction. */
async function isSettled(p: Promise<unknown>): Promise<boolean> {
  let settled = false;
  const mark = () => {
    settled = true;
  };
  p.then(mark, mark);
  await new Promise((r) => setImmediate(r));
  return settled;
}

/** A launcher closed after the test, so that a failing test leaves no process behind. */
function newLauncher(
  t: TestContext,
  options: Partial<ProcessLauncherOptions> = {},
): ProcessLauncher {
  const launcher = new ProcessLauncher({ agentPath: AGENT_PATH, ...options });
  t.after(() => launcher.close());
  return launcher;
}

test(
  "launch() waits for the root, then runs the agent in rootPath with a loopback address",
  T,
  async (t) => {
    const launcher = newLauncher(t);
    const root = Promise.withResolvers<void>();
    const s = spec({ rootReady: root.promise });
    const launching = launcher.launch(s);
    assert.equal(await isSettled(launching), false);
    assert.equal(launcher.pidOf(s.id), undefined, "no agent before the root is ready");
    root.resolve();
    const handle = await launching;
    const pid = launcher.pidOf(s.id)!;
    assert.equal(handle.address, "127.0.0.1");
    assert.equal(readlinkSync(`/proc/${pid}/cwd`), s.rootPath);
    writeFileSync(join(s.rootPath, "hello.txt"), "from the host");
    assert.equal(await run(handle.agent, ["cat", join(s.rootPath, "hello.txt")]), "from the host");
    await launcher.destroy(s.id);
    await handle.exited;
    await launcher.close();
  },
);

test("launch() rejects with the root's failure and starts nothing", T, async (t) => {
  const launcher = newLauncher(t);
  const s = spec({ rootReady: Promise.reject(new Error("the clone failed")) });
  await assert.rejects(launcher.launch(s), /the clone failed/);
  assert.equal(launcher.pidOf(s.id), undefined);
  assert.deepEqual(await launcher.reconcile(new Set()), []);
});

test(
  "failLaunch makes the nth launch fail with SandboxStartError and its reason; others start",
  T,
  async (t) => {
    const asked: number[] = [];
    const launcher = newLauncher(t, {
      failLaunch: (n) => {
        asked.push(n);
        return n === 2 ? "crun: cannot allocate memory" : undefined;
      },
    });
    const [a, b, c] = [spec(), spec(), spec()];
    await launcher.launch(a);
    const err = await launcher.launch(b).then(
      () => assert.fail("the second launch started"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof SandboxStartError);
    assert.equal(err.sandboxId, b.id);
    assert.equal(err.reason, "crun: cannot allocate memory");
    assert.match(err.message, /Sandbox sbx_\w+ did not start: crun: cannot allocate memory/);
    assert.equal(launcher.pidOf(b.id), undefined, "nothing runs for the failed launch");
    await launcher.launch(c);
    assert.deepEqual(asked, [1, 2, 3]);
    assert.deepEqual(await launcher.reconcile(new Set([a.id])), [c.id]);
    assert.equal(launcher.pidOf(c.id), undefined);
    assert.ok(launcher.pidOf(a.id), "a live sandbox is kept");
    await launcher.destroy(a.id);
  },
);

test(
  "an agent that cannot start or never says READY fails the launch with SandboxStartError",
  T,
  async (t) => {
    const missing = newLauncher(t, { agentPath: join(tmpdir(), "no-such-strata-agent") });
    await assert.rejects(missing.launch(spec()), (e: unknown) => {
      assert.ok(e instanceof SandboxStartError);
      assert.match(e.reason, /its agent did not start: .*ENOENT/);
      return true;
    });
    const mute = newLauncher(t, { agentPath: "/bin/true" });
    await assert.rejects(mute.launch(spec()), (e: unknown) => {
      assert.ok(e instanceof SandboxStartError);
      assert.match(e.reason, /its agent did not say READY/);
      return true;
    });
  },
);

test(
  "validateAllowNet() and launch() refuse a bad allowNet as parseAllowNet does",
  T,
  async (t) => {
    const launcher = newLauncher(t);
    const bad = ["127.0.0.1"];
    const expected = (() => {
      try {
        parseAllowNet(bad);
      } catch (e) {
        return e as Error & { code: string };
      }
      assert.fail("parseAllowNet accepted a loopback address");
    })();
    assert.throws(() => launcher.validateAllowNet(bad), {
      code: expected.code,
      message: expected.message,
    });
    launcher.validateAllowNet(undefined);
    launcher.validateAllowNet(["example.com:443"]);
    const s = spec({ allowNet: bad });
    await assert.rejects(launcher.launch(s), { code: expected.code });
    assert.equal(launcher.pidOf(s.id), undefined);
  },
);

test(
  "freeze() stops the agent and every process below it, a forking loop included; thaw() lets them go on",
  T,
  async (t) => {
    const launcher = newLauncher(t);
    const s = spec();
    const { agent } = await launcher.launch(s);
    const pid = launcher.pidOf(s.id)!;
    const loop = await agent.exec({ argv: ["sh", "-c", "while :; do /bin/true; done"], env: ENV });
    // An orphan of a command (its shell exits at once) stays below the agent, a subreaper.
    const orphan = Number(
      await run(agent, ["sh", "-c", "setsid sleep 600 >/dev/null 2>&1 & echo $!"]),
    );
    await launcher.freeze(s.id);
    const tree = await processTree(pid);
    for (const p of [pid, loop.pid, orphan])
      assert.ok(tree.has(p), `${p} is in ${[...tree.keys()]}`);
    const frozen = [...tree.values()].map((p) => p.state);
    assert.ok(
      frozen.every((x) => /^[TtZD]/.test(x)),
      `everything is stopped: ${frozen}`,
    );
    await launcher.freeze(s.id);
    await launcher.thaw(s.id);
    assert.ok(
      (await states(pid)).every((x) => !/^[Tt]/.test(x)),
      "nothing is stopped after thaw",
    );
    assert.equal(await run(agent, ["echo", "thawed"]), "thawed\n");
    await loop.signal("SIGKILL");
    assert.deepEqual(await loop.exited, { code: null, signal: "SIGKILL" });
    await launcher.destroy(s.id);
    await launcher.close();
  },
);

test(
  "destroy() of a frozen sandbox resolves once none of its processes runs; release runs in the background and settle() waits for it",
  T,
  async (t) => {
    const launcher = newLauncher(t);
    const s = spec();
    const handle = await launcher.launch(s);
    const pid = launcher.pidOf(s.id)!;
    const sleeper = await handle.agent.exec({ argv: ["sleep", "600"], env: ENV });
    await run(handle.agent, ["sh", "-c", "setsid sleep 600 >/dev/null 2>&1 &"]);
    await launcher.freeze(s.id);
    const pids = [...(await processTree(pid)).keys()];
    assert.ok(pids.includes(sleeper.pid) && pids.length >= 3, `agent, sleep, orphan: ${pids}`);

    const release = Promise.withResolvers<void>();
    let released = false;
    await launcher.destroy(s.id, {
      release: async () => {
        released = true;
        await release.promise;
      },
    });
    for (const p of pids) assert.equal(isRunningOrZombie(p), "gone", `process ${p} is gone`);
    assert.equal(await isSettled(handle.exited), true);
    assert.equal(launcher.pidOf(s.id), undefined);
    assert.equal(released, true, "release has started");
    const settled = launcher.settle();
    assert.equal(await isSettled(settled), false, "settle() waits for release");
    release.resolve();
    await settled;

    // Idempotent, and the release of a sandbox it no longer runs still runs.
    let again = false;
    await launcher.destroy(s.id, {
      release: async () => {
        again = true;
      },
    });
    await launcher.settle();
    assert.equal(again, true);
    await assert.rejects(launcher.freeze(s.id), /it is not running/);
    await launcher.close();
  },
);

test(
  "a failed release is logged, not thrown; exited resolves when the agent dies on its own",
  T,
  async (t) => {
    const log = recordingLog();
    const launcher = newLauncher(t, { log });
    const s = spec();
    const handle = await launcher.launch(s);
    process.kill(launcher.pidOf(s.id)!, "SIGKILL");
    await handle.exited;
    await launcher.destroy(s.id, {
      release: async () => {
        throw new Error("the subvolume is busy");
      },
    });
    await launcher.settle();
    assert.deepEqual(
      log.lines.map((l) => [l.level, l.msg]),
      [["error", "Could not remove what an ended sandbox left"]],
    );
  },
);

test("close() ends a sandbox still running, with a warning", T, async (t) => {
  const log = recordingLog();
  const launcher = newLauncher(t, { log });
  const s = spec();
  const handle = await launcher.launch(s);
  const pid = launcher.pidOf(s.id)!;
  await launcher.close();
  await handle.exited;
  assert.equal(isRunningOrZombie(pid), "gone");
  assert.deepEqual(
    log.lines.map((l) => [l.level, l.msg]),
    [["warn", "Ending a sandbox still running at close"]],
  );
});

test(
  "destroy() kills the processes of an agent that does not end them, and warns",
  T,
  async (t) => {
    // A stand-in agent: says READY, starts a child, and never closes its end of the socket.
    const dir = mkdtempSync(join(tmpdir(), "strata-pl-"));
    dirs.push(dir);
    const protocol = resolve(import.meta.dirname, "agent/protocol.ts");
    const script = join(dir, "stubborn-agent.mjs");
    writeFileSync(
      script,
      `#!${process.execPath}
import { spawn } from "node:child_process";
import { Socket } from "node:net";
import { encodeFrame, MessageType, PayloadWriter, PROTOCOL_VERSION } from ${JSON.stringify(protocol)};
const socket = new Socket({ fd: 3, readable: true, writable: true, allowHalfOpen: true });
socket.on("data", () => {});
spawn("sleep", ["600"], { stdio: "ignore" }).on("spawn", () =>
  socket.write(encodeFrame(MessageType.Ready, 0, new PayloadWriter().u32(PROTOCOL_VERSION).finish())),
);
`,
    );
    chmodSync(script, 0o755);
    const log = recordingLog();
    const launcher = newLauncher(t, { agentPath: script, log });
    const s = spec();
    const handle = await launcher.launch(s);
    const pids = [...(await processTree(launcher.pidOf(s.id)!)).keys()];
    assert.equal(pids.length, 2, `the stand-in and its sleep: ${pids}`);
    await launcher.destroy(s.id);
    assert.equal(await isSettled(handle.exited), true);
    // The sleep is reparented once its parent dies, and reaped by whoever adopted it.
    for (const p of pids) assert.notEqual(isRunningOrZombie(p), "running", `process ${p} runs`);
    assert.deepEqual(
      log.lines.map((l) => [l.level, l.msg]),
      [["warn", "The sandbox's agent did not end its processes; killing them"]],
    );
  },
);
