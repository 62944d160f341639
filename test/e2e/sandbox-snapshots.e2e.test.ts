import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Event, ExecResult, Org, Sandbox, Snapshot } from "@strata/api";
import { derivePrefix } from "../../packages/daemon/src/config.ts";
import { isRoot, TestDaemon, waitFor } from "./harness.ts";

const text = (s: string) => Buffer.from(s, "base64").toString();

describe("snapshots of running sandboxes, schedules, retention, pause and persistent sandboxes", {
  skip: !isRoot && "needs root",
}, () => {
  let d: TestDaemon;
  before(async () => {
    d = await TestDaemon.start(["--root-capacity", "2GB", "--reaper-interval", "1s"]);
  });
  after(async () => {
    await d?.[Symbol.asyncDispose]();
  });

  async function create(body: Record<string, unknown> = {}): Promise<Sandbox> {
    const res = await d.api<Sandbox>("POST", "/v1/sandboxes", { memory: "256MiB", ...body });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body;
  }
  async function sh(id: string, command: string): Promise<string> {
    const res = await d.api<ExecResult>("POST", `/v1/sandboxes/${id}/exec`, { command });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.exitCode, 0, text(res.body.stderr));
    return text(res.body.stdout);
  }
  async function settled(idOrSlug: string): Promise<Snapshot> {
    return waitFor(`snapshot ${idOrSlug} to settle`, async () => {
      const s = (await d.api<Snapshot>("GET", `/v1/snapshots/${idOrSlug}`)).body;
      return s.status === "creating" ? undefined : s;
    });
  }
  async function events(sandboxId: string, type?: string): Promise<Event[]> {
    const q = type ? `?type=${type}&limit=500` : "?limit=500";
    return (await d.api<Event[]>("GET", `/v1/sandboxes/${sandboxId}/events${q}`)).body;
  }
  /** Starts a process that appends its clock (seconds, µs precision) every 10 ms; returns its pid. */
  async function ticker(id: string): Promise<string> {
    return (
      await sh(
        id,
        "nohup sh -c 'while :; do date +%s.%N; sleep 0.01; done >> /root/ticks' >/dev/null 2>&1 & echo $!",
      )
    ).trim();
  }
  const ticks = async (id: string) => Number((await sh(id, "wc -l < /root/ticks")).trim());

  test("a snapshot of a running sandbox answers creating at once, becomes ready, and the sandbox runs on undisturbed", async () => {
    const sbx = await create({ labels: { test: "snap" } });
    const pid = await ticker(sbx.id);
    await sh(sbx.id, "echo before > /root/marker");
    const res = await d.api<Snapshot>("POST", `/v1/sandboxes/${sbx.id}/snapshots`, {
      name: "running-one",
    });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal(res.body.status, "creating");
    assert.equal(res.body.kind, "sandbox");
    assert.deepEqual(res.body.source, { kind: "sandbox", sandbox: sbx.id });
    const snap = await settled(res.body.id);
    assert.equal(snap.status, "ready", snap.failureReason ?? "");
    assert.deepEqual(snap.template, { kind: "image", image: "builtin:debian-13" });
    // Ready means restorable; the size is recorded from btrfs' accounting just after.
    const sized = await waitFor("the snapshot's size", async () => {
      const s = (await d.api<Snapshot>("GET", `/v1/snapshots/${snap.id}`)).body;
      return s.sizeBytes === null ? undefined : s;
    });
    assert.ok((sized.sizeBytes ?? 0) > 10e6, `size ${sized.sizeBytes}`);
    assert.equal(snap.expiresAt, null);
    assert.ok(snap.settledAt);

    // The same process goes on writing, and the sandbox is still ready.
    const n1 = await ticks(sbx.id);
    await new Promise((r) => setTimeout(r, 200));
    assert.ok((await ticks(sbx.id)) > n1, "the ticker kept running");
    assert.equal((await sh(sbx.id, `kill -0 ${pid} && echo alive`)).trim(), "alive");
    assert.equal((await d.api<Sandbox>("GET", `/v1/sandboxes/${sbx.id}`)).body.status, "ready");
    const ready = await events(sbx.id, "snapshot.ready");
    assert.equal(ready.length, 1);
    assert.match(ready[0]!.message, /frozen \d+(\.\d+)? ms/);

    // Listed with its kind, globally and per sandbox.
    const mine = (await d.api<Snapshot[]>("GET", `/v1/sandboxes/${sbx.id}/snapshots`)).body;
    assert.deepEqual(
      mine.map((s) => s.slug),
      ["running-one"],
    );
    const kinds = (await d.api<Snapshot[]>("GET", "/v1/snapshots?kind=sandbox")).body;
    assert.ok(kinds.some((s) => s.id === snap.id));
    assert.ok(kinds.every((s) => s.kind === "sandbox"));

    // A change after the snapshot is not in it; restores are independent of each other.
    await sh(sbx.id, "echo after > /root/marker");
    const [r1, r2] = await Promise.all([
      create({ fromSnapshot: "running-one" }),
      create({ root: snap.id }),
    ]);
    for (const r of [r1, r2]) {
      assert.deepEqual(r.template, { kind: "image", image: "builtin:debian-13" });
      assert.equal(r.memory, 256 * 2 ** 20);
      assert.equal((await sh(r.id, "cat /root/marker")).trim(), "before");
    }
    await sh(r1.id, "echo r1 > /root/marker");
    assert.equal((await sh(r2.id, "cat /root/marker")).trim(), "before");
    const r3 = await create({ fromSnapshot: snap.id, memory: "128MiB" });
    assert.equal(r3.memory, 128 * 2 ** 20, "explicit resources win over the snapshot's");
    assert.equal(
      (await sh(r3.id, "cat /root/marker")).trim(),
      "before",
      "the snapshot never changes",
    );
    for (const id of [sbx.id, r1.id, r2.id, r3.id]) await d.api("DELETE", `/v1/sandboxes/${id}`);
  });

  test("bad names, duplicate names and a second snapshot in flight are refused", async () => {
    const sbx = await create();
    // One naming rule with volume slugs: 2–63 of [a-z0-9.-], a letter or digit at each end.
    for (const name of ["", "a", "-x", "UPPER", "under_score", "ab--cd", "a..b", "x".repeat(64)]) {
      const res = await d.api<{ code: string }>("POST", `/v1/sandboxes/${sbx.id}/snapshots`, {
        name,
      });
      assert.equal(res.status, 400, name);
      assert.equal(res.body.code, "invalid_snapshot_name");
    }
    // Dirty data makes the copy take a while (it is flushed first).
    await sh(sbx.id, "head -c 200000000 /dev/urandom > /root/big");
    const [a, b] = await Promise.all([
      d.api<Snapshot>("POST", `/v1/sandboxes/${sbx.id}/snapshots`, { name: "dup-a" }),
      d.api<{ code: string }>("POST", `/v1/sandboxes/${sbx.id}/snapshots`, { name: "dup-b" }),
    ]);
    assert.deepEqual([a.status, b.status].sort(), [202, 409]);
    const refused = (a.status === 409 ? a.body : b.body) as { code: string };
    assert.equal(refused.code, "snapshot_in_progress");
    const took = a.status === 202 ? (a.body as Snapshot) : (b.body as unknown as Snapshot);
    assert.equal((await settled(took.id)).status, "ready");
    const again = await d.api<{ code: string }>("POST", `/v1/sandboxes/${sbx.id}/snapshots`, {
      name: took.slug,
    });
    assert.equal(again.status, 409);
    assert.equal(again.body.code, "slug_taken");
    await d.api("DELETE", `/v1/sandboxes/${sbx.id}`);
  });

  test("restores of a creating or failed snapshot are refused; a failed snapshot says why", async () => {
    const sbx = await create();
    const snap = (
      await d.api<Snapshot>("POST", `/v1/sandboxes/${sbx.id}/snapshots`, { name: "doomed" })
    ).body;
    // The copy (flush, freeze, btrfs snapshot) takes tens of milliseconds; these come sooner.
    const early = await d.api<{ code: string }>("POST", "/v1/sandboxes", { fromSnapshot: snap.id });
    assert.equal(early.status, 409);
    assert.equal(early.body.code, "snapshot_not_ready");
    assert.equal((await settled(snap.id)).status, "ready");
    // A crash right after the answer, before the copy is taken: after the restart the
    // snapshot is failed with the reason, not gone and not ready.
    const interrupted = (
      await d.api<Snapshot>("POST", `/v1/sandboxes/${sbx.id}/snapshots`, { name: "doomed-too" })
    ).body;
    await d.crash();
    assert.equal(interrupted.status, "creating");
    await d.start();
    const failed = await settled(interrupted.id);
    assert.equal(failed.status, "failed");
    assert.match(failed.failureReason ?? "", /daemon stopped/);
    const late = await d.api<{ code: string; message: string }>("POST", "/v1/sandboxes", {
      fromSnapshot: interrupted.id,
    });
    assert.equal(late.status, 409);
    assert.equal(late.body.code, "snapshot_failed");
    assert.match(late.body.message, /daemon stopped/);
    // It stays failed: nothing retries it.
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(
      (await d.api<Snapshot>("GET", `/v1/snapshots/${interrupted.id}`)).body.status,
      "failed",
    );
    for (const s of [snap.id, interrupted.id]) await d.api("DELETE", `/v1/snapshots/${s}`);
    assert.equal((await d.api("GET", `/v1/snapshots/${interrupted.id}`)).status, 404);
  });

  test("pause freezes every process and blocks exec, files and snapshots; resume thaws", async () => {
    const sbx = await create();
    await ticker(sbx.id);
    await sh(sbx.id, "sleep 0.1");
    const paused = await d.api<Sandbox>("POST", `/v1/sandboxes/${sbx.id}/pause`);
    assert.equal(paused.status, 200);
    assert.equal(paused.body.status, "paused");
    for (const [method, path, body] of [
      ["POST", `/v1/sandboxes/${sbx.id}/exec`, { command: "true" }],
      ["POST", `/v1/sandboxes/${sbx.id}/snapshots`, { name: "while-paused" }],
      ["GET", `/v1/sandboxes/${sbx.id}/files/stat?path=/root`, undefined],
    ] as const) {
      const res = await d.api<{ code: string }>(method, path, body);
      assert.equal(res.status, 409, path);
      assert.equal(res.body.code, "sandbox_paused");
    }
    assert.equal(
      (await d.api<Sandbox>("POST", `/v1/sandboxes/${sbx.id}/pause`)).body.status,
      "paused",
      "pause is idempotent",
    );
    await new Promise((r) => setTimeout(r, 700));
    const resumed = await d.api<Sandbox>("POST", `/v1/sandboxes/${sbx.id}/resume`);
    assert.equal(resumed.body.status, "ready");
    // While paused, the ticker (every 10 ms) wrote nothing: one gap covers the pause.
    await new Promise((r) => setTimeout(r, 100));
    const times = (await sh(sbx.id, "cat /root/ticks")).trim().split("\n").map(Number);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    assert.ok(Math.max(...gaps) >= 0.6, `longest gap ${Math.max(...gaps)} s`);
    const n = await ticks(sbx.id);
    await new Promise((r) => setTimeout(r, 200));
    assert.ok((await ticks(sbx.id)) > n, "the ticker runs again");
    const kinds = (await events(sbx.id)).map((e) => e.type);
    assert.deepEqual(
      kinds.filter((k) => k.startsWith("sandbox.")),
      ["sandbox.paused", "sandbox.resumed"],
    );
    // A paused sandbox can still be killed.
    await d.api("POST", `/v1/sandboxes/${sbx.id}/pause`);
    assert.equal((await d.api("DELETE", `/v1/sandboxes/${sbx.id}`)).status, 204);
    assert.equal((await d.api<Sandbox>("GET", `/v1/sandboxes/${sbx.id}`)).body.status, "stopped");
  });

  test("a paused sandbox's processes get no CPU", async () => {
    const sbx = await create();
    await sh(
      sbx.id,
      "nohup sh -c 'i=0; while :; do i=$((i+1)); echo $i > /root/count; done' >/dev/null 2>&1 &",
    );
    await sh(sbx.id, "sleep 0.2");
    await d.api("POST", `/v1/sandboxes/${sbx.id}/pause`);
    const cg = `/sys/fs/cgroup/cpuacct/${derivePrefix(d.dataDir)}/${sbx.id}/cpuacct.usage`;
    const { readFile } = await import("node:fs/promises");
    const usage = async () => Number(await readFile(cg, "utf8"));
    const u1 = await usage();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await usage(), u1, "no CPU used while paused");
    await d.api("POST", `/v1/sandboxes/${sbx.id}/resume`);
    await new Promise((r) => setTimeout(r, 300));
    assert.ok((await usage()) > u1, "CPU used again after resume");
    await d.api("DELETE", `/v1/sandboxes/${sbx.id}`);
  });

  test("a freeze settles at once while a shell vfork()s commands in a tight loop", async () => {
    // dash vfork()s each command: a freeze that lands just before the vfork catches the
    // child before exec and leaves the parent waiting for it, which the v1 freezer does not
    // count as frozen unless it is asked again. Each pause here must settle without the
    // freezer's thaw-and-retry (a third of its 6 s budget).
    const sbx = await create();
    await sh(sbx.id, "nohup sh -c 'while :; do /bin/true; done' >/dev/null 2>&1 &");
    const slow: string[] = [];
    for (let i = 0; i < 30; i++) {
      const t0 = performance.now();
      const res = await d.api<Sandbox>("POST", `/v1/sandboxes/${sbx.id}/pause`);
      assert.equal(res.body.status, "paused", JSON.stringify(res.body));
      const ms = performance.now() - t0;
      if (ms > 1000) slow.push(`pause ${i}: ${ms.toFixed(0)} ms`);
      assert.equal((await d.api<Sandbox>("POST", `/v1/sandboxes/${sbx.id}/resume`)).status, 200);
    }
    assert.deepEqual(slow, []);
    assert.equal((await d.api("DELETE", `/v1/sandboxes/${sbx.id}`)).status, 204);
  });

  test("a delete racing with restores waits for them: they boot with the data, the snapshot is then gone", async () => {
    const src = await create();
    await sh(src.id, "echo precious > /root/data");
    const snap = (
      await d.api<Snapshot>("POST", `/v1/sandboxes/${src.id}/snapshots`, { name: "racy" })
    ).body;
    assert.equal((await settled(snap.id)).status, "ready");
    const restores = [1, 2, 3].map(() =>
      d.api<Sandbox & { code?: string }>("POST", "/v1/sandboxes", { fromSnapshot: snap.id }),
    );
    const del = d.api("DELETE", `/v1/snapshots/${snap.id}`);
    const results = await Promise.all(restores);
    assert.equal((await del).status, 204);
    for (const r of results) {
      if (r.status === 201) {
        assert.equal((await sh(r.body.id, "cat /root/data")).trim(), "precious");
        await d.api("DELETE", `/v1/sandboxes/${r.body.id}`);
      } else {
        assert.equal(r.status, 404, "a restore that came after the delete finds nothing");
        assert.equal(r.body.code, "snapshot_not_found");
      }
    }
    assert.equal((await d.api("GET", `/v1/snapshots/${snap.id}`)).status, 404);
    await d.api("DELETE", `/v1/sandboxes/${src.id}`);
  });

  test("retention: the reaper deletes expired snapshots but keeps protected ones until unprotected", async () => {
    const sbx = await create();
    const org = await d.api<Org>("PATCH", "/v1/org", { snapshotRetention: "3s" });
    assert.equal(org.body.snapshotRetention, "3s");
    try {
      const bad = await d.api<{ code: string }>("PATCH", "/v1/org", { snapshotRetention: "soon" });
      assert.equal(bad.body.code, "invalid_retention");
      const take = async (name: string) =>
        settled(
          (await d.api<Snapshot>("POST", `/v1/sandboxes/${sbx.id}/snapshots`, { name })).body.id,
        );
      const keep = await take("keep-me");
      const lose = await take("lose-me");
      assert.ok(lose.expiresAt && Date.parse(lose.expiresAt) > Date.now() - 1000);
      const prot = await d.api<Snapshot>("PATCH", `/v1/snapshots/${keep.id}`, { protected: true });
      assert.equal(prot.body.protected, true);
      const refused = await d.api<{ code: string }>("DELETE", `/v1/snapshots/${keep.id}`);
      assert.equal(refused.status, 409);
      assert.equal(refused.body.code, "snapshot_protected");
      // A restore does not extend the expiry.
      const restored = await create({ fromSnapshot: lose.id });
      await waitFor("the reaper", async () =>
        (await d.api("GET", `/v1/snapshots/${lose.id}`)).status === 404 ? true : undefined,
      );
      assert.equal((await sh(restored.id, "echo ok")).trim(), "ok", "restored sandboxes live on");
      const expired = await waitFor("the expiry event", async () => {
        const list = (await d.api<Event[]>("GET", "/v1/events?type=snapshot.expired")).body;
        return list.find((e) => e.snapshot === lose.id);
      });
      assert.match(expired.message, /expired/);
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(
        (await d.api("GET", `/v1/snapshots/${keep.id}`)).status,
        200,
        "protected survives",
      );
      await d.api("PATCH", `/v1/snapshots/${keep.id}`, { protected: false });
      await waitFor("the reaper after unprotect", async () =>
        (await d.api("GET", `/v1/snapshots/${keep.id}`)).status === 404 ? true : undefined,
      );
      await d.api("DELETE", `/v1/sandboxes/${restored.id}`);
    } finally {
      await d.api("PATCH", "/v1/org", { snapshotRetention: "never" });
      await d.api("DELETE", `/v1/sandboxes/${sbx.id}`);
    }
  });

  test("a snapshot of a volume in use freezes the sandbox using it only for the copy", async () => {
    const vol = (
      await d.api<{ id: string }>("POST", "/v1/volumes", {
        slug: "frozen-vol",
        region: "local",
        capacity: "1GB",
        from: "builtin:debian-13",
      })
    ).body;
    await waitFor("the volume", async () => {
      const v = (await d.api<{ status: string }>("GET", `/v1/volumes/${vol.id}`)).body;
      return v.status === "ready" ? true : undefined;
    });
    const sbx = await create({ root: vol.id });
    await ticker(sbx.id);
    await sh(sbx.id, "echo in-volume > /root/v");
    const snap = await d.api<Snapshot>("POST", `/v1/volumes/${vol.id}/snapshots`, {
      slug: "frozen-vol-1",
    });
    assert.equal(snap.status, 201, JSON.stringify(snap.body));
    const thawed = d.logs.filter(
      (l) => l.msg === "Thawed the sandbox after a copy of its volume" && l.sandbox === sbx.id,
    );
    assert.equal(thawed.length, 1, "the sandbox was frozen for the copy, then thawed");
    assert.equal((await d.api<Sandbox>("GET", `/v1/sandboxes/${sbx.id}`)).body.status, "ready");
    const n = await ticks(sbx.id);
    await new Promise((r) => setTimeout(r, 200));
    assert.ok((await ticks(sbx.id)) > n, "its processes run on");
    const restored = await create({ fromSnapshot: "frozen-vol-1" });
    assert.equal((await sh(restored.id, "cat /root/v")).trim(), "in-volume");
    for (const id of [sbx.id, restored.id]) await d.api("DELETE", `/v1/sandboxes/${id}`);
  });

  test("snapshot schedules are validated", async () => {
    for (const body of [
      { snapshotMode: "automatic" },
      { snapshotFrequency: "* * * * *" },
      { snapshotMode: "manual", snapshotKeep: 3 },
      { snapshotMode: "automatic", snapshotFrequency: "*/5 * * * * *" },
      { snapshotMode: "automatic", snapshotFrequency: "99 * * * *" },
      { snapshotMode: "automatic", snapshotFrequency: "* * * * *", snapshotKeep: 0 },
    ]) {
      const res = await d.api<{ code: string }>("POST", "/v1/sandboxes", body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.body.code, "invalid_snapshot_schedule");
    }
  });

  test("a persistent sandbox keeps its disk across stop, start and a daemon restart, until deleted", async () => {
    const sbx = await create({ persistent: true, persistentDiskGB: 1 });
    assert.equal(sbx.persistent, true);
    assert.equal(sbx.diskBytes, 1e9);
    await sh(sbx.id, "echo kept > /root/kept");
    const stopped = await d.api<Sandbox>("POST", `/v1/sandboxes/${sbx.id}/stop`);
    assert.equal(stopped.body.status, "stopped");
    assert.equal(stopped.body.startable, true);
    const exec = await d.api<{ code: string }>("POST", `/v1/sandboxes/${sbx.id}/exec`, {
      command: "true",
    });
    assert.equal(exec.body.code, "sandbox_not_running");
    const started = await d.api<Sandbox>("POST", `/v1/sandboxes/${sbx.id}/start`);
    assert.equal(started.status, 200, JSON.stringify(started.body));
    assert.equal(started.body.status, "ready");
    assert.equal((await sh(sbx.id, "cat /root/kept")).trim(), "kept");

    await d.stop();
    await d.start();
    const after = (await d.api<Sandbox>("GET", `/v1/sandboxes/${sbx.id}`)).body;
    assert.equal(after.status, "stopped");
    assert.equal(after.startable, true);
    assert.equal((await d.api<Sandbox>("POST", `/v1/sandboxes/${sbx.id}/start`)).status, 200);
    assert.equal((await sh(sbx.id, "cat /root/kept")).trim(), "kept");

    assert.equal((await d.api("DELETE", `/v1/sandboxes/${sbx.id}`)).status, 204);
    const again = await d.api<{ code: string }>("POST", `/v1/sandboxes/${sbx.id}/start`);
    assert.equal(again.status, 409);
    assert.equal(again.body.code, "sandbox_not_ready");

    const eph = await create();
    const refused = await d.api<{ code: string }>("POST", `/v1/sandboxes/${eph.id}/stop`);
    assert.equal(refused.body.code, "sandbox_not_persistent");
    const disk = await d.api<{ code: string }>("POST", "/v1/sandboxes", { persistentDiskGB: 2 });
    assert.equal(disk.body.code, "invalid_disk_size");
    await d.api("DELETE", `/v1/sandboxes/${eph.id}`);
  });

  test("automatic snapshots follow the cron schedule, keep the newest N, and skip ticks while paused", {
    skip: process.env.STRATA_FAST === "1" && "slow: waits for real cron ticks (STRATA_FAST=1)",
  }, async () => {
    const sbx = await create({
      snapshotMode: "automatic",
      snapshotFrequency: "* * * * *",
      snapshotKeep: 1,
    });
    assert.equal(sbx.snapshotMode, "automatic");
    const automatic = async () =>
      (await d.api<Snapshot[]>("GET", `/v1/sandboxes/${sbx.id}/snapshots`)).body.filter(
        (s) => s.automatic && s.status === "ready",
      );
    await waitFor(
      "the first scheduled snapshot",
      async () => ((await automatic()).length === 1 ? true : undefined),
      70_000,
    );
    await waitFor(
      "the second tick and the pruning",
      async () => ((await events(sbx.id, "snapshot.pruned")).length === 1 ? true : undefined),
      70_000,
    );
    assert.equal((await automatic()).length, 1, "only the newest is kept");
    assert.equal((await events(sbx.id, "snapshot.tick")).length, 2);
    await d.api("POST", `/v1/sandboxes/${sbx.id}/pause`);
    const skipped = await waitFor(
      "a skipped tick",
      async () => {
        const s = await events(sbx.id, "snapshot.skipped");
        return s.length ? s : undefined;
      },
      70_000,
    );
    assert.match(skipped[0]!.message, /paused/);
    assert.equal((await events(sbx.id, "snapshot.tick")).length, 2, "no tick while paused");
    await d.api("DELETE", `/v1/sandboxes/${sbx.id}`);
  });
});
