import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { describe, test } from "node:test";
import type { Sandbox, Snapshot, Volume } from "@strata/api";
import { derivePrefix } from "../../packages/daemon/src/config.ts";
import { run } from "../../packages/daemon/src/lib/exec.ts";
import { isMountPoint } from "../../packages/daemon/src/lib/mounts.ts";
import { isRoot, REPO, spawnDaemon, TestDaemon, waitFor } from "./harness.ts";
import { leftovers, type ProcessId, processTree } from "./host-traces.ts";

/**
 * `npm start` as a user or supervisor runs it: the process npm leaves running is stratad
 * itself, and once npm has exited after a SIGTERM nothing of the daemon is left on the host.
 * `STRATA_STRESS=1` (scripts/stress.sh) runs 20 rounds instead of 5.
 */
const ROUNDS = process.env.STRATA_STRESS === "1" ? 20 : 5;

/** Resolves once `port` can be bound on 127.0.0.1 (and is released again). */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

/** A free API port whose proxy port (+ 10) is free too, outside the ephemeral range port 0 draws from. */
async function freeApiPort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 10_000);
    if ((await bindable(port)) && (await bindable(port + 10))) return port;
  }
}

interface Started {
  npm: ChildProcess;
  /** stratad's pid, as it logs it. */
  daemonPid: number;
  url: string;
  token: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output: string[];
}

/** `npm start -- <stratad flags>` in its own process group, resolved once stratad is ready. */
async function npmStart(dataDir: string): Promise<Started> {
  const npm = spawn(
    "npm",
    ["start", "--", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--pool-size", "8GiB"],
    {
      cwd: REPO,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, npm_config_update_notifier: "false", npm_config_fund: "false" },
    },
  );
  const exited = once(npm, "exit").then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  const output: string[] = [];
  let daemonPid = 0;
  createInterface({ input: npm.stdout! }).on("line", (line) => {
    output.push(line);
    if (daemonPid) return;
    try {
      daemonPid = (JSON.parse(line) as { pid: number }).pid;
    } catch {}
  });
  let url = "";
  const ready = new Promise<void>((resolve, reject) => {
    createInterface({ input: npm.stderr! }).on("line", (line) => {
      output.push(line);
      url = /^stratad listening on (\S+)/.exec(line)?.[1] ?? url;
      if (line.startsWith("sandbox ports proxied on ")) resolve();
    });
    void exited.then(({ code }) =>
      reject(
        new Error(`npm start exited (${code}) before stratad was ready:\n${output.join("\n")}`),
      ),
    );
  });
  await ready;
  const token = (await readFile(join(dataDir, "admin.token"), "utf8")).trim();
  return { npm, daemonPid, url, token, exited, output };
}

async function api<T>(
  s: Started,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const res = await fetch(new URL(path, s.url), {
    method,
    headers: {
      authorization: `Bearer ${s.token}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
}

/** A step of the flow that must answer `status`. */
async function expect<T>(
  s: Started,
  status: number,
  ...args: [method: string, path: string, body?: unknown]
): Promise<T> {
  const r = await api<T>(s, ...args);
  assert.equal(r.status, status, `${args[0]} ${args[1]}: ${JSON.stringify(r.body)}`);
  return r.body;
}

/**
 * One create → snapshot → delete cycle over volumes and a sandbox: a volume, its snapshot,
 * a sandbox from the base snapshot with the volume attached, a command, a snapshot of the
 * sandbox and one of its attached volume (both freeze it), then everything deleted.
 */
async function cycle(s: Started, name: string): Promise<void> {
  await expect<Volume>(s, 201, "POST", "/v1/volumes", {
    slug: name,
    region: "local",
    capacity: "300MB",
  });
  await expect<Snapshot>(s, 201, "POST", `/v1/volumes/${name}/snapshots`, { slug: `${name}-a` });
  const box = await expect<Sandbox>(s, 201, "POST", "/v1/sandboxes", {
    root: "base-snap",
    volumes: { "/data": name },
  });
  const echo = await expect<{ exitCode: number }>(s, 200, "POST", `/v1/sandboxes/${box.id}/exec`, {
    command: "echo hi > /data/f",
  });
  assert.equal(echo.exitCode, 0);
  await expect(s, 202, "POST", `/v1/sandboxes/${box.id}/snapshots`, { name: `${name}-b` });
  await expect(s, 201, "POST", `/v1/volumes/${name}/snapshots`, { slug: `${name}-c` });
  await waitFor(`snapshot ${name}-b to settle`, async () => {
    const r = await expect<Snapshot>(s, 200, "GET", `/v1/snapshots/${name}-b`);
    return r.status === "creating" ? undefined : r;
  });
  await expect(s, 204, "DELETE", `/v1/sandboxes/${box.id}`);
  for (const snap of ["a", "b", "c"])
    await expect(s, 204, "DELETE", `/v1/snapshots/${name}-${snap}`);
  await expect(s, 204, "DELETE", `/v1/volumes/${name}`);
}

/** Stops `s` with `signal` and checks that npm exits 0 with nothing of the daemon left. */
async function stopAndCheck(
  s: Started,
  how: "SIGTERM to npm" | "SIGINT to the group",
  host: { dataDir: string; prefix: string },
): Promise<void> {
  const processes: ProcessId[] = await processTree(s.npm.pid!);
  if (how === "SIGTERM to npm") s.npm.kill("SIGTERM");
  else process.kill(-s.npm.pid!, "SIGINT");
  const result = await Promise.race([
    s.exited,
    new Promise<"hung">((r) => setTimeout(() => r("hung"), 120_000).unref()),
  ]);
  assert.notEqual(result, "hung", `npm start did not exit:\n${s.output.slice(-20).join("\n")}`);
  assert.deepEqual(result, { code: 0, signal: null }, s.output.slice(-20).join("\n"));
  assert.deepEqual(await leftovers({ ...host, processes }), [], s.output.slice(-20).join("\n"));
}

describe("npm start", { skip: !isRoot && "needs root" }, () => {
  test("two daemons with their own --data-dir and --listen, and no --proxy-listen, run side by side", async () => {
    const [pa, pb] = [await freeApiPort(), await freeApiPort()];
    await using a = await TestDaemon.start(["--listen", `127.0.0.1:${pa}`]);
    await using b = await TestDaemon.start(["--listen", `127.0.0.1:${pb}`]);
    assert.equal(a.proxyUrl, `http://127.0.0.1:${pa + 10}`);
    assert.equal(b.proxyUrl, `http://127.0.0.1:${pb + 10}`);
    for (const d of [a, b])
      assert.equal((await d.api("GET", "/v1/health", undefined, null)).status, 200);
  });

  test("a taken proxy port stops the start with a message naming --proxy-listen, leaving nothing behind", async () => {
    const port = await freeApiPort();
    const holder = createServer();
    await new Promise<void>((r) => holder.listen(port + 10, "127.0.0.1", r));
    const dataDir = await mkdtemp("/var/tmp/strata-e2e-");
    try {
      const child = spawnDaemon(dataDir, ["--listen", `127.0.0.1:${port}`]);
      let stderr = "";
      child.stderr!.on("data", (c: Buffer) => {
        stderr += c.toString();
      });
      child.stdout!.resume();
      const [code] = await once(child, "exit");
      assert.equal(code, 1, stderr);
      assert.match(stderr, new RegExp(`127\\.0\\.0\\.1:${port + 10} .*--proxy-listen`));
      assert.deepEqual(await leftovers({ dataDir, prefix: derivePrefix(dataDir) }), []);
    } finally {
      holder.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  test(`the process npm start leaves is stratad; stopped at random moments of a create/snapshot/delete flow (${ROUNDS} rounds), nothing of it is left once npm has exited`, {
    timeout: 15 * 60_000,
  }, async (t) => {
    const dataDir = await mkdtemp("/var/tmp/strata-e2e-");
    const host = { dataDir, prefix: derivePrefix(dataDir) };
    let s: Started | undefined;
    try {
      // The base image is built once; every round restarts on the same data dir.
      const tStart = performance.now();
      const first = await npmStart(dataDir);
      s = first;
      const ppid = Number(
        (await readFile(`/proc/${s.daemonPid}/stat`, "utf8")).split(") ")[1]!.split(" ")[1],
      );
      assert.equal(ppid, s.npm.pid, "stratad is npm's own child: no shell in between");
      const base = await api<Volume>(s, "POST", "/v1/volumes", {
        slug: "base",
        region: "local",
        capacity: "2GB",
        from: "builtin:debian-13",
      });
      assert.ok([201, 202].includes(base.status), JSON.stringify(base.body));
      await waitFor(
        "the base volume",
        async () => {
          const v = await expect<Volume>(first, 200, "GET", "/v1/volumes/base");
          assert.notEqual(v.status, "failed", v.failureReason ?? undefined);
          return v.status === "ready" ? v : undefined;
        },
        300_000,
      );
      t.diagnostic(`the base volume took ${Math.round(performance.now() - tStart)} ms`);
      await expect(s, 201, "POST", "/v1/volumes/base/snapshots", { slug: "base-snap" });
      const t0 = performance.now();
      await cycle(s, "warm");
      const cycleMs = performance.now() - t0;
      t.diagnostic(`one cycle takes ${Math.round(cycleMs)} ms`);
      // A command that outlasts the shutdown's grace period ends with its sandbox instead of
      // holding the shutdown until it is done.
      const long = await expect<Sandbox>(s, 201, "POST", "/v1/sandboxes", { root: "base-snap" });
      const sleeping = api<{ code: string }>(s, "POST", `/v1/sandboxes/${long.id}/exec`, {
        command: "touch /tmp/started && sleep 600",
      });
      await waitFor("the long command to start", async () => {
        const r = await api(s!, "GET", `/v1/sandboxes/${long.id}/files/stat?path=/tmp/started`);
        return r.status === 200 ? true : undefined;
      });
      await stopAndCheck(s, "SIGTERM to npm", host);
      const slept = await sleeping;
      assert.equal(slept.status, 409, JSON.stringify(slept.body));
      assert.equal(slept.body.code, "sandbox_not_running");

      for (let round = 1; round <= ROUNDS; round++) {
        const t1 = performance.now();
        const current = await npmStart(dataDir);
        const startMs = performance.now() - t1;
        s = current;
        let stopped = false;
        // The flow runs until the daemon goes away under it; only failures before the stop count.
        const flow = (async () => {
          for (let k = 0; ; k++) await cycle(current, `r${round}-${k}`);
        })().catch((err: unknown) => {
          if (!stopped) throw err;
        });
        const delay = Math.random() * cycleMs * 1.5;
        await Promise.race([new Promise((r) => setTimeout(r, delay)), flow]);
        stopped = true;
        // Every third round is a Ctrl-C in a terminal: SIGINT to npm's whole process group.
        const how = round % 3 === 0 ? "SIGINT to the group" : "SIGTERM to npm";
        const t2 = performance.now();
        await stopAndCheck(current, how, host);
        t.diagnostic(
          `round ${round}: started in ${Math.round(startMs)} ms, ${how} after ${Math.round(delay)} ms, stopped and checked in ${Math.round(performance.now() - t2)} ms`,
        );
        await flow;
      }
    } finally {
      // After a failure: stop what still runs and unmount, so the data dir can go.
      if (s && s.npm.exitCode === null && s.npm.signalCode === null) {
        s.npm.kill("SIGTERM");
        await s.exited;
      }
      if (await isMountPoint(join(dataDir, "pool"))) await run(["umount", join(dataDir, "pool")]);
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
