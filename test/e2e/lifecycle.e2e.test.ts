import assert from "node:assert/strict";
import { once } from "node:events";
import { access, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { DatabaseSync } from "node:sqlite";
import { describe, test } from "node:test";
import type { Snapshot, Volume } from "@strata/api";
import { derivePrefix } from "../../packages/daemon/src/config.ts";
import { run } from "../../packages/daemon/src/lib/exec.ts";
import { isMountPoint } from "../../packages/daemon/src/lib/mounts.ts";
import { isRoot, spawnDaemon, TestDaemon, waitFor } from "./harness.ts";

const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  );

describe("daemon lifecycle", { skip: !isRoot && "needs root" }, () => {
  test("SIGTERM during start-up stops it and removes what it had made: bridge, nft tables, warm networks, pool mount", async () => {
    const dataDir = await mkdtemp("/var/tmp/strata-e2e-");
    const prefix = derivePrefix(dataDir);
    try {
      const child = spawnDaemon(dataDir);
      const exited = once(child, "exit");
      const seen: string[] = [];
      // The bridge is the first network state made; the start goes on after it.
      createInterface({ input: child.stdout! }).on("line", (line) => {
        const msg = (JSON.parse(line) as { msg: string }).msg;
        seen.push(msg);
        if (msg === "Created the sandbox bridge") child.kill("SIGTERM");
      });
      const [code] = await exited;
      assert.ok(seen.includes("Created the sandbox bridge"), seen.join(" | "));
      assert.ok(!seen.includes("stratad is ready"), "the start was stopped, not finished");
      assert.equal(code, 0, seen.join(" | "));
      const netns = (await readdir("/run/netns").catch(() => [])).filter((n) =>
        n.startsWith(`${prefix}-`),
      );
      assert.deepEqual(netns, [], "no network namespace left");
      const links = (await run(["ip", "-o", "link", "show"])).stdout;
      assert.equal(links.includes(`${prefix}0`), false, "no bridge left");
      assert.equal(links.includes(`${prefix}-`), false, "no veth left");
      const tables = (await run(["nft", "list", "tables"])).stdout;
      assert.equal(tables.includes(prefix), false, "no nft table left");
      assert.equal(await isMountPoint(join(dataDir, "pool")), false, "the pool is unmounted");
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  test("SIGTERM shuts down cleanly and releases the pool mount; a restart keeps every volume", async () => {
    await using d = await TestDaemon.start();
    const v = (
      await d.api<Volume>("POST", "/v1/volumes", { slug: "keep", region: "local", capacity: "1GB" })
    ).body;
    await writeFile(join(d.poolRoot, "writable", v.id, "f"), "kept");
    assert.equal(await d.stop(), 0);
    assert.equal(await isMountPoint(join(d.dataDir, "pool")), false);
    await d.start();
    const again = await d.api<Volume>("GET", "/v1/volumes/keep");
    assert.equal(again.status, 200);
    assert.equal(again.body.id, v.id);
    assert.equal(again.body.status, "ready");
  });

  test("after a crash the reconciler removes half-made and orphaned layers and settles every record", async () => {
    await using d = await TestDaemon.start();
    const ok = (
      await d.api<Volume>("POST", "/v1/volumes", {
        slug: "survivor",
        region: "local",
        capacity: "1GB",
      })
    ).body;
    const snap = (
      await d.api<Snapshot>("POST", `/v1/volumes/${ok.id}/snapshots`, { slug: "survivor-snap" })
    ).body;
    const gone = (
      await d.api<Volume>("POST", "/v1/volumes", {
        slug: "lost-data",
        region: "local",
        capacity: "1GB",
      })
    ).body;
    await d.crash();

    // The state a crash in the middle of operations leaves behind:
    await run([
      "btrfs",
      "subvolume",
      "create",
      join(d.poolRoot, "tmp", "vol_halfmade000000000000"),
    ]);
    await run([
      "btrfs",
      "subvolume",
      "create",
      join(d.poolRoot, "writable", "vol_orphan00000000000000"),
    ]);
    await run([
      "btrfs",
      "subvolume",
      "snapshot",
      "-r",
      join(d.poolRoot, "writable", ok.id),
      join(d.poolRoot, "readonly", "snp_orphan00000000000000"),
    ]);
    await run(["btrfs", "subvolume", "delete", join(d.poolRoot, "writable", gone.id)]);
    const db = new DatabaseSync(join(d.dataDir, "strata.db"));
    const org = (
      db.prepare("SELECT org_id FROM volumes WHERE id = ?").get(ok.id) as { org_id: string }
    ).org_id;
    const now = new Date().toISOString();
    db.prepare(
      "INSERT INTO volumes (id, org_id, slug, region, status, capacity, bootable, base_snapshot_id, base_snapshot_slug, created_at) VALUES (?, ?, ?, 'local', 'creating', 1000000000, 0, ?, ?, ?)",
    ).run("vol_creating000000000000", org, "was-creating", snap.id, snap.slug, now);
    db.prepare("INSERT INTO slugs (org_id, slug, resource_id) VALUES (?, ?, ?)").run(
      org,
      "was-creating",
      "vol_creating000000000000",
    );
    db.prepare(
      "INSERT INTO snapshots (id, org_id, slug, region, status, volume_id, volume_slug, bootable, created_at) VALUES (?, ?, ?, 'local', 'creating', ?, ?, 0, ?)",
    ).run("snp_creating000000000000", org, "half-snap", ok.id, ok.slug, now);
    db.prepare("INSERT INTO slugs (org_id, slug, resource_id) VALUES (?, ?, ?)").run(
      org,
      "half-snap",
      "snp_creating000000000000",
    );
    db.close();

    await d.start();
    // The interrupted fork below may be under way in tmp/ already; the half-made layer is gone.
    assert.equal(await exists(join(d.poolRoot, "tmp", "vol_halfmade000000000000")), false);
    assert.equal(await exists(join(d.poolRoot, "writable", "vol_orphan00000000000000")), false);
    assert.equal(await exists(join(d.poolRoot, "readonly", "snp_orphan00000000000000")), false);
    // The interrupted fork is completed from its snapshot.
    const resumed = await waitFor("the interrupted volume to settle", async () => {
      const r = await d.api<Volume>("GET", "/v1/volumes/was-creating");
      return r.body.status === "creating" ? undefined : r.body;
    });
    assert.equal(resumed.status, "ready");
    assert.ok(await exists(join(d.poolRoot, "writable", "vol_creating000000000000")));
    assert.deepEqual(await readdir(join(d.poolRoot, "tmp")), []);
    // The half-made snapshot had no data: its record is gone and its slug free.
    assert.equal((await d.api("GET", "/v1/snapshots/half-snap")).status, 404);
    assert.equal(
      (await d.api("POST", `/v1/volumes/${ok.id}/snapshots`, { slug: "half-snap" })).status,
      201,
    );
    // A ready volume whose data vanished is reported failed, not ready.
    const lost = (await d.api<Volume>("GET", "/v1/volumes/lost-data")).body;
    assert.equal(lost.status, "failed");
    assert.match(lost.failureReason ?? "", /missing/);
    assert.equal((await d.api<Volume>("GET", "/v1/volumes/survivor")).body.status, "ready");
  });

  test("two daemons with different data dirs run side by side without seeing each other", async () => {
    await using a = await TestDaemon.start();
    await using b = await TestDaemon.start();
    assert.notEqual(a.url, b.url);
    const va = await a.api<Volume>("POST", "/v1/volumes", {
      slug: "same-slug",
      region: "local",
      capacity: "1GB",
    });
    const vb = await b.api<Volume>("POST", "/v1/volumes", {
      slug: "same-slug",
      region: "local",
      capacity: "1GB",
    });
    assert.equal(va.status, 201);
    assert.equal(vb.status, 201);
    assert.deepEqual(
      (await a.api<Volume[]>("GET", "/v1/volumes")).body.map((v) => v.id),
      [va.body.id],
    );
    assert.equal((await a.api("GET", "/v1/volumes", undefined, b.token)).status, 401);
    assert.ok(await isMountPoint(join(a.dataDir, "pool")));
    assert.ok(await isMountPoint(join(b.dataDir, "pool")));
    await a.stop();
    assert.equal((await b.api("GET", `/v1/volumes/${vb.body.id}`)).status, 200);
  });

  test("after its btrfs helper is killed, the daemon starts a new one and keeps serving", async () => {
    await using d = await TestDaemon.start();
    const make = (slug: string) =>
      d.api<Volume>("POST", "/v1/volumes", { slug, region: "local", capacity: "1GB" });
    assert.equal((await make("before")).status, 201);
    const helpers = async () => {
      const found: number[] = [];
      for (const pid of await readdir("/proc").catch(() => [] as string[])) {
        if (!/^[0-9]+$/.test(pid)) continue;
        const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
        const m = /^\d+ \((.*)\) \S (\d+)/.exec(stat);
        if (m?.[1] === "strata-btrfs" && Number(m[2]) === d.pid) found.push(Number(pid));
      }
      return found;
    };
    const [first] = await helpers();
    assert.ok(first, "the daemon runs its btrfs helper");
    process.kill(first, "SIGKILL");
    await waitFor("the helper to be gone", async () =>
      (await helpers()).includes(first) ? undefined : true,
    );
    const after = await make("after");
    assert.equal(after.status, 201, JSON.stringify(after.body));
    const snap = await d.api<Snapshot>("POST", `/v1/volumes/${after.body.id}/snapshots`, {
      slug: "after-snap",
    });
    assert.equal(snap.status, 201, JSON.stringify(snap.body));
    const [second] = await helpers();
    assert.ok(second && second !== first, "a new helper serves the daemon");
  });

  test("a snapshot from another region cannot seed a volume (daemon moved to a new region)", async () => {
    await using d = await TestDaemon.start(["--region", "eu-1"]);
    const v = (
      await d.api<Volume>("POST", "/v1/volumes", {
        slug: "eu-vol",
        region: "eu-1",
        capacity: "1GB",
      })
    ).body;
    await d.api("POST", `/v1/volumes/${v.id}/snapshots`, { slug: "eu-snap" });
    await d.stop();
    d.args.splice(0, d.args.length, "--region", "us-1");
    await d.start();
    const r = await d.api<{ code: string; message: string }>("POST", "/v1/volumes", {
      slug: "us-vol",
      region: "us-1",
      capacity: "1GB",
      from: "eu-snap",
    });
    assert.equal(r.status, 409);
    assert.equal(r.body.code, "region_mismatch");
    assert.match(r.body.message, /"eu-1"/);
  });
});
