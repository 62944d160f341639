import assert from "node:assert/strict";
import { test } from "node:test";
import type { SandboxInfo } from "@strata/sdk";
import { fakeDaemon, ID, type Seen, sandbox, snapshot, strata } from "./test-cli.ts";

const calls = (seen: Seen[]) => seen.map((r) => `${r.method} ${r.url.pathname}${r.url.search}`);

test("strata sandboxes create sends restore, persistence and schedule flags; a frequency implies automatic", async () => {
  await using daemon = await fakeDaemon(() => ({
    status: 201,
    json: sandbox({
      persistent: true,
      diskBytes: 20e9,
      snapshotMode: "automatic",
      snapshotFrequency: "0 * * * *",
      snapshotKeep: 24,
      root: { kind: "snapshot", snapshot: { id: "snp_1", slug: "deps" } },
    }),
  }));
  const { code, stdout, stderr } = await strata(daemon.url, [
    "sandboxes",
    "create",
    "--from-snapshot",
    "deps",
    "--persistent",
    "--disk-gb",
    "20",
    "--snapshot-frequency",
    "0  *  * * *",
    "--snapshot-keep",
    "24",
  ]);
  assert.equal(code, 0, stderr);
  assert.deepEqual(daemon.seen[0]?.body, {
    fromSnapshot: "deps",
    persistent: true,
    persistentDiskGB: 20,
    snapshotMode: "automatic",
    snapshotFrequency: "0 * * * *",
    snapshotKeep: 24,
  });
  assert.match(stdout, /^Template +builtin:debian-13$/m);
  assert.match(stdout, /^Persistent +yes, 20 GB disk$/m);
  assert.match(stdout, /^Snapshots +automatic \(0 \* \* \* \*, keep 24\)$/m);
});

test("strata sandboxes pause, resume, stop and start post the action and say what happened", async () => {
  let info: SandboxInfo = sandbox({ persistent: true });
  const next: Record<string, Partial<SandboxInfo>> = {
    pause: { status: "paused" },
    resume: { status: "ready" },
    stop: { status: "stopped", startable: true },
    start: { status: "ready", startable: false },
  };
  await using daemon = await fakeDaemon((req) => {
    const action = req.url.pathname.split("/")[4];
    if (req.method === "POST" && action) info = { ...info, ...next[action] };
    return { json: info };
  });
  const expected = {
    pause: `Paused sandbox ${ID}.\n`,
    resume: `Resumed sandbox ${ID}.\n`,
    stop: `Stopped sandbox ${ID}; "strata sandboxes start ${ID}" boots it again.\n`,
    start: `Started sandbox ${ID}.\n`,
  };
  for (const [action, out] of Object.entries(expected)) {
    const { code, stdout, stderr } = await strata(daemon.url, ["sandboxes", action, ID]);
    assert.equal(code, 0, stderr);
    assert.equal(stdout, out);
    assert.equal(calls(daemon.seen).at(-1), `POST /v1/sandboxes/${ID}/${action}`);
  }
  const json = await strata(daemon.url, ["--json", "sandboxes", "pause", ID]);
  assert.equal((JSON.parse(json.stdout) as SandboxInfo).status, "paused");
});

test("strata sandboxes stop of an ephemeral sandbox exits 1 with a hint to kill it", async () => {
  await using daemon = await fakeDaemon((req) =>
    req.method === "POST"
      ? {
          status: 409,
          json: {
            code: "sandbox_not_persistent",
            message: `Cannot stop sandbox ${ID}: it is not persistent`,
          },
        }
      : { json: sandbox() },
  );
  const { code, stderr } = await strata(daemon.url, ["sandboxes", "stop", ID]);
  assert.equal(code, 1);
  assert.match(stderr, /^error: Cannot stop sandbox .*: it is not persistent$/m);
  assert.match(stderr, /^hint: only sandboxes created with --persistent .*strata sandboxes kill/m);
});

test("strata sandboxes exec on a paused sandbox hints to resume it", async () => {
  await using daemon = await fakeDaemon(() => ({ json: sandbox({ status: "paused" }) }));
  const { code, stderr } = await strata(daemon.url, ["sandboxes", "exec", ID, "--", "true"]);
  assert.equal(code, 1);
  assert.match(stderr, /it is paused\nhint: resume it first: "strata sandboxes resume sbx_/);
});

/** A daemon whose snapshot answers `creating` to the first GET, then `final`. */
async function snapshotDaemon(final: Parameters<typeof snapshot>[0]) {
  let gets = 0;
  const creating = snapshot({ status: "creating", sizeBytes: null, settledAt: null });
  return fakeDaemon((req) => {
    if (req.url.pathname === `/v1/sandboxes/${ID}`) return { json: sandbox() };
    if (req.method === "POST") return { status: 202, json: creating };
    gets++;
    return { json: gets > 1 ? snapshot(final) : creating };
  });
}

test("strata sandboxes snapshot --wait polls until the snapshot is ready and prints it", async () => {
  await using daemon = await snapshotDaemon({ status: "ready" });
  const { code, stdout, stderr } = await strata(daemon.url, [
    "sandboxes",
    "snapshot",
    ID,
    "snap-1",
    "--wait",
  ]);
  assert.equal(code, 0, stderr);
  assert.deepEqual(daemon.seen.find((r) => r.method === "POST")?.body, { name: "snap-1" });
  assert.deepEqual(
    calls(daemon.seen).filter((c) => c.startsWith("GET /v1/snapshots/")),
    ["GET /v1/snapshots/snp_1", "GET /v1/snapshots/snp_1"],
  );
  assert.match(stdout, /^Status +ready$/m);
  assert.match(stdout, /^Source +sandbox sbx_0123456789abcdefghij$/m);
});

test("strata sandboxes snapshot --wait exits 1 with the failure reason when the snapshot fails", async () => {
  await using daemon = await snapshotDaemon({
    status: "failed",
    failureReason: "no space left on device",
  });
  const { code, stdout, stderr } = await strata(daemon.url, [
    "sandboxes",
    "snapshot",
    ID,
    "snap-1",
    "--wait",
  ]);
  assert.equal(code, 1);
  assert.equal(stdout, "");
  assert.match(stderr, /^error: Snapshot "snap-1" \(snp_1\) failed: no space left on device$/m);
  assert.match(stderr, /^hint: "strata snapshots get <snapshot>" shows why/m);
});

test("strata sandboxes snapshot without --wait prints the creating snapshot and how to follow it", async () => {
  await using daemon = await snapshotDaemon({ status: "ready" });
  const { code, stdout, stderr } = await strata(daemon.url, ["sandboxes", "snapshot", ID, "s1"]);
  assert.equal(code, 0, stderr);
  assert.match(stdout, /^Status +creating$/m);
  assert.match(stderr, /"strata snapshots get snap-1" shows when it is ready/);
  assert.equal(daemon.seen.filter((r) => r.url.pathname.startsWith("/v1/snapshots/")).length, 0);
});

test("strata snapshots list --kind --sandbox filters and shows KIND SOURCE PROTECTED EXPIRES", async () => {
  await using daemon = await fakeDaemon(() => ({
    json: [snapshot({ protected: true, expiresAt: "2025-02-01T00:00:00.000Z" })],
  }));
  const { code, stdout, stderr } = await strata(daemon.url, [
    "snapshots",
    "list",
    "--kind",
    "sandbox",
    "--sandbox",
    ID,
  ]);
  assert.equal(code, 0, stderr);
  assert.deepEqual(calls(daemon.seen), [`GET /v1/snapshots?kind=sandbox&sandbox=${ID}`]);
  const [head, row] = stdout.trimEnd().split("\n");
  assert.match(
    head ?? "",
    /^ID +SLUG +REGION +ALLOCATED +FLATTENED +KIND +SOURCE +STATUS +PROTECTED +EXPIRES$/,
  );
  assert.match(
    row ?? "",
    new RegExp(`^snp_1 +snap-1 +.* +sandbox +${ID} +ready +yes +2025-02-01T00:00:00Z$`),
  );
});

test("strata sandboxes snapshots and events list one sandbox's snapshots and events", async () => {
  await using daemon = await fakeDaemon((req) => {
    if (req.url.pathname.endsWith("/snapshots")) return { json: [snapshot({ automatic: true })] };
    if (req.url.pathname.endsWith("/events")) {
      return {
        json: [
          {
            id: "evt_1",
            type: "snapshot.ready",
            sandbox: ID,
            snapshot: "snp_1",
            message: "Snapshot ready, frozen 12 ms",
            createdAt: "2025-01-01T00:00:00.000Z",
          },
        ],
      };
    }
    return { json: sandbox() };
  });
  const snaps = await strata(daemon.url, ["sandboxes", "snapshots", ID]);
  assert.equal(snaps.code, 0, snaps.stderr);
  assert.match(snaps.stdout, /^snp_1 +snap-1 /m);
  const events = await strata(daemon.url, ["sandboxes", "events", ID, "--type", "snapshot.ready"]);
  assert.equal(events.code, 0, events.stderr);
  assert.match(
    events.stdout,
    /^2025-01-01T00:00:00Z +snapshot\.ready +sbx_\w+ +snp_1 +Snapshot ready, frozen 12 ms$/m,
  );
  assert.ok(calls(daemon.seen).includes(`GET /v1/sandboxes/${ID}/events?type=snapshot.ready`));
});

test("strata snapshots protect and unprotect patch the snapshot; deleting a protected one hints to unprotect", async () => {
  await using daemon = await fakeDaemon((req) =>
    req.method === "DELETE"
      ? {
          status: 409,
          json: {
            code: "snapshot_protected",
            message: 'Cannot delete snapshot "snap-1": it is protected',
          },
        }
      : { json: snapshot({ protected: (req.body as { protected?: boolean }).protected ?? false }) },
  );
  const protect = await strata(daemon.url, ["snapshots", "protect", "snap-1"]);
  assert.equal(protect.stdout, 'Protected snapshot "snap-1".\n');
  const unprotect = await strata(daemon.url, ["--json", "snapshots", "unprotect", "snap-1"]);
  assert.equal(JSON.parse(unprotect.stdout).protected, false);
  assert.deepEqual(
    daemon.seen.map((r) => [`${r.method} ${r.url.pathname}`, r.body]),
    [
      ["PATCH /v1/snapshots/snap-1", { protected: true }],
      ["PATCH /v1/snapshots/snap-1", { protected: false }],
    ],
  );
  const del = await strata(daemon.url, ["snapshots", "delete", "snap-1"]);
  assert.equal(del.code, 1);
  assert.match(del.stderr, /^hint: unprotect it first: "strata snapshots unprotect <snapshot>"$/m);
});

test("strata org get and org set --snapshot-retention read and change the retention", async () => {
  let retention = "30d";
  await using daemon = await fakeDaemon((req) => {
    if (req.method === "PATCH")
      retention = (req.body as { snapshotRetention: string }).snapshotRetention;
    return { json: { id: "org_1", name: "default", snapshotRetention: retention } };
  });
  const get = await strata(daemon.url, ["org", "get"]);
  assert.equal(get.code, 0, get.stderr);
  assert.match(get.stdout, /^Snapshot retention +30d$/m);
  const set = await strata(daemon.url, ["org", "set", "--snapshot-retention", "never"]);
  assert.equal(set.code, 0, set.stderr);
  assert.match(set.stdout, /^Snapshot retention +never$/m);
  assert.deepEqual(daemon.seen.at(-1)?.body, { snapshotRetention: "never" });
});

test("strata events filters by type and sandbox", async () => {
  await using daemon = await fakeDaemon(() => ({ json: [] }));
  const { code, stdout } = await strata(daemon.url, [
    "events",
    "--type",
    "snapshot.failed",
    "--sandbox",
    ID,
  ]);
  assert.equal(code, 0);
  assert.equal(stdout, "No events.\n");
  assert.deepEqual(calls(daemon.seen), [`GET /v1/events?type=snapshot.failed&sandbox=${ID}`]);
});

test("strata exits 2 on malformed new options before contacting the daemon", async () => {
  for (const args of [
    ["sandboxes", "create", "--snapshot-mode", "sometimes"],
    ["sandboxes", "create", "--snapshot-frequency", "* * *"],
    ["sandboxes", "create", "--snapshot-keep", "0"],
    ["sandboxes", "create", "--disk-gb", "big"],
    ["sandboxes", "list", "--status", "sleeping"],
    ["sandboxes", "snapshot", ID],
    ["snapshots", "list", "--kind", "image"],
    ["events", "--type", "sandbox.exploded"],
    ["org", "set", "--snapshot-retention", "soon"],
    ["org", "set"],
  ]) {
    const { code, stderr } = await strata("http://127.0.0.1:1", args);
    assert.equal(code, 2, `${args.join(" ")}: ${stderr}`);
  }
});
