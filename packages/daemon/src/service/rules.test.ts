/**
 * The services' rules, on the directory driver and the process launcher: no root, no
 * btrfs, no containers. Each test builds the real services with `createServices`.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import type { ErrorCode } from "@strata/api";
import { StrataError } from "../errors.ts";
import { AGENT_PATH, buildAgent } from "../runtime/agent/test-agent.ts";
import type { LaunchSpec } from "../runtime/launcher.ts";
import { ProcessLauncher } from "../runtime/process-launcher.ts";
import type { CreateOptions, StorageDriver } from "../storage/driver.ts";
import { tempDirDriver } from "../testing/dir-fixture.ts";
import { quietLog, servicesForTest } from "./test-support.ts";

buildAgent();

const code = (c: ErrorCode) => (err: unknown) => {
  assert.ok(err instanceof StrataError, `expected a StrataError ${c}, got ${String(err)}`);
  assert.equal(err.code, c, err.message);
  return true;
};

/**
 * A storage driver whose calls the test can hold or fail: `gate("snapshot")` makes the
 * next snapshot wait until released; `fail("create")` makes the next create throw.
 */
function controllable(driver: StorageDriver) {
  const gates = new Map<string, { entered: () => void; wait: Promise<void> }>();
  const failures = new Set<string>();
  const hold = async (op: string) => {
    const g = gates.get(op);
    if (g) {
      gates.delete(op);
      g.entered();
      await g.wait;
    }
    if (failures.delete(op)) throw new Error(`injected failure of ${op}`);
  };
  const wrapped: StorageDriver = {
    info: driver.info,
    create: async (id, options?: CreateOptions) => {
      await hold("create");
      return driver.create(id, options);
    },
    snapshot: async (source, id) => {
      await hold("snapshot");
      return driver.snapshot(source, id);
    },
    restore: async (id, snapshot, options) => {
      await hold("restore");
      return driver.restore(id, snapshot, options);
    },
    setCapacity: (id, bytes) => driver.setCapacity(id, bytes),
    trash: (id) => driver.trash(id),
    remove: (id) => driver.remove(id),
    writablePath: (id) => driver.writablePath(id),
    livePath: (id) => driver.livePath(id),
    has: (id) => driver.has(id),
    list: () => driver.list(),
    usage: (ids) => driver.usage(ids),
    diff: (base, target, options) => driver.diff(base, target, options),
    cleanup: () => driver.cleanup(),
    capacity: () => driver.capacity(),
  };
  return {
    driver: wrapped,
    /** Holds the next call of `op`; resolves `entered` when it is waiting. */
    gate(op: string): { entered: Promise<void>; release: () => void } {
      let release!: () => void;
      let entered!: () => void;
      const wait = new Promise<void>((r) => {
        release = r;
      });
      const enteredP = new Promise<void>((r) => {
        entered = r;
      });
      gates.set(op, { entered, wait });
      return { entered: enteredP, release };
    },
    fail(op: string): void {
      failures.add(op);
    },
  };
}

async function setup(
  options: { failLaunch?: (n: number, spec: LaunchSpec) => string | undefined } = {},
) {
  const storage = await tempDirDriver();
  const control = controllable(storage.driver);
  const launcher = new ProcessLauncher({
    agentPath: AGENT_PATH,
    log: quietLog,
    ...(options.failLaunch ? { failLaunch: options.failLaunch } : {}),
  });
  const t = await servicesForTest({ driver: control.driver, launcher });
  return {
    ...t,
    control,
    launcher,
    driver: storage.driver,
    async [Symbol.asyncDispose]() {
      await t[Symbol.asyncDispose]();
      await launcher.close();
      await storage[Symbol.asyncDispose]();
    },
  };
}

/** A bootable volume: a fork of the (marker) base image. */
async function bootableVolume(t: Awaited<ReturnType<typeof setup>>, slug: string) {
  const v = await t.services.volumes.create(t.orgId, {
    slug,
    region: "local",
    capacity: "1GB",
    from: "builtin:debian-13",
  });
  await t.services.volumes.drain();
  return t.services.volumes.get(t.orgId, v.id);
}

test("a volume is attached to one sandbox at a time; it is free again once that one ends", async () => {
  await using t = await setup();
  const { sandboxes } = t.services;
  const vol = await bootableVolume(t, "single");
  assert.equal(vol.status, "ready");
  const first = await sandboxes.create(t.orgId, { root: "single" });
  await assert.rejects(sandboxes.create(t.orgId, { root: "single" }), code("volume_in_use"));
  await assert.rejects(
    sandboxes.create(t.orgId, { volumes: { "/data": "single" } }),
    code("volume_in_use"),
  );
  await assert.rejects(t.services.volumes.delete(t.orgId, "single"), code("volume_in_use"));
  await sandboxes.kill(t.orgId, first.id);
  const second = await sandboxes.create(t.orgId, { root: "single" });
  assert.equal((await t.services.volumes.get(t.orgId, "single")).attachedTo, second.id);
  await sandboxes.kill(t.orgId, second.id);
});

test("the same volume twice in one sandbox is refused before anything is made", async () => {
  await using t = await setup();
  await bootableVolume(t, "twice");
  await assert.rejects(
    t.services.sandboxes.create(t.orgId, { root: "twice", volumes: { "/data": "twice" } }),
    code("volume_in_use"),
  );
  assert.equal((await t.services.volumes.get(t.orgId, "twice")).attachedTo, null);
  assert.deepEqual(t.store.sandboxes.live(), []);
});

test("volumes and snapshots in another region are refused", async () => {
  await using t = await setup();
  t.store.volumes.insert({
    id: "vol_elsewhere0000000000000",
    orgId: t.orgId,
    slug: "elsewhere",
    region: "eu-1",
    status: "ready",
    capacity: 1e9,
    bootable: true,
    base: null,
    createdAt: new Date(),
  });
  await assert.rejects(
    t.services.sandboxes.create(t.orgId, { root: "elsewhere" }),
    code("region_mismatch"),
  );
  await assert.rejects(
    t.services.sandboxes.create(t.orgId, { volumes: { "/data": "elsewhere" } }),
    code("region_mismatch"),
  );
  await assert.rejects(
    t.services.volumes.create(t.orgId, { slug: "here", region: "eu-1", capacity: "1GB" }),
    code("invalid_region"),
  );
});

test("volumes and snapshots of every kind share one namespace of names", async () => {
  await using t = await setup();
  const { volumes, snapshots, sandboxSnapshots, sandboxes } = t.services;
  await bootableVolume(t, "taken");
  await assert.rejects(
    volumes.create(t.orgId, { slug: "taken", region: "local", capacity: "1GB" }),
    code("slug_taken"),
  );
  await assert.rejects(
    snapshots.createFromVolume(t.orgId, "taken", { slug: "taken" }),
    code("slug_taken"),
  );
  const snap = await snapshots.createFromVolume(t.orgId, "taken", { slug: "taken-1" });
  assert.equal(snap.status, "ready");
  const sbx = await sandboxes.create(t.orgId, {});
  assert.throws(
    () => sandboxSnapshots.create(t.orgId, sbx.id, { name: "taken-1" }),
    code("slug_taken"),
  );
  assert.throws(
    () => sandboxSnapshots.create(t.orgId, sbx.id, { name: "taken" }),
    code("slug_taken"),
  );
  // A name freed by a delete can be taken again, by any kind.
  await snapshots.delete(t.orgId, "taken-1");
  const again = sandboxSnapshots.create(t.orgId, sbx.id, { name: "taken-1" });
  await sandboxSnapshots.drain();
  assert.equal((await snapshots.get(t.orgId, again.id)).status, "ready");
  await sandboxes.kill(t.orgId, sbx.id);
});

test("a volume still being created cannot be booted, mounted or snapshotted", async () => {
  await using t = await setup();
  const { volumes, snapshots, sandboxes } = t.services;
  // The base image's first use builds it; hold its layer's creation.
  const gate = t.control.gate("create");
  const creating = await volumes.create(t.orgId, {
    slug: "pending",
    region: "local",
    capacity: "1GB",
    from: "builtin:debian-13",
  });
  await gate.entered;
  assert.equal(creating.status, "creating");
  await assert.rejects(sandboxes.create(t.orgId, { root: "pending" }), code("volume_not_ready"));
  await assert.rejects(
    sandboxes.create(t.orgId, { volumes: { "/data": "pending" } }),
    code("volume_not_ready"),
  );
  await assert.rejects(
    snapshots.createFromVolume(t.orgId, "pending", { slug: "pending-1" }),
    code("volume_not_ready"),
  );
  gate.release();
  await volumes.drain();
  assert.equal((await volumes.get(t.orgId, "pending")).status, "ready");
});

test("a sandbox whose start fails leaves nothing: no record, no root, its volumes free", async () => {
  await using t = await setup({ failLaunch: (n) => (n === 1 ? "the runtime said no" : undefined) });
  const { sandboxes, volumes } = t.services;
  await volumes.create(t.orgId, { slug: "data", region: "local", capacity: "1GB" });
  await t.services.images.ensure("builtin:debian-13");
  const before = new Set((await t.driver.list()).map((l) => l.id));
  await assert.rejects(
    sandboxes.create(t.orgId, { volumes: { "/data": "data" } }),
    (err: unknown) => err instanceof Error && /the runtime said no/.test(err.message),
  );
  assert.deepEqual(t.store.sandboxes.live(), []);
  assert.equal((await volumes.get(t.orgId, "data")).attachedTo, null);
  const after = (await t.driver.list()).map((l) => l.id).filter((id) => !before.has(id));
  assert.deepEqual(after, [], "the ephemeral root is removed");
  // The next create works.
  const sbx = await sandboxes.create(t.orgId, { volumes: { "/data": "data" } });
  assert.equal(sbx.status, "ready");
  await sandboxes.kill(t.orgId, sbx.id);
});

test("a failed root copy reverts the create; a failed volume snapshot frees its name", async () => {
  await using t = await setup();
  const { sandboxes, volumes, snapshots } = t.services;
  await bootableVolume(t, "src");
  t.control.fail("create");
  await assert.rejects(sandboxes.create(t.orgId, {}), /injected failure of create/);
  assert.deepEqual(t.store.sandboxes.live(), []);
  t.control.fail("snapshot");
  await assert.rejects(
    snapshots.createFromVolume(t.orgId, "src", { slug: "src-1" }),
    /injected failure of snapshot/,
  );
  await assert.rejects(snapshots.get(t.orgId, "src-1"), code("snapshot_not_found"));
  assert.equal(
    (await snapshots.createFromVolume(t.orgId, "src", { slug: "src-1" })).status,
    "ready",
  );
  t.control.fail("create");
  await assert.rejects(
    volumes.create(t.orgId, { slug: "fork", region: "local", capacity: "1GB", from: "src-1" }),
    /injected failure of create/,
  );
  assert.equal(
    (await volumes.create(t.orgId, { slug: "fork", region: "local", capacity: "1GB" })).slug,
    "fork",
  );
});

test("one snapshot of a sandbox in flight at a time; a failed copy is kept as failed, with the reason", async () => {
  await using t = await setup();
  const { sandboxes, sandboxSnapshots, snapshots } = t.services;
  const sbx = await sandboxes.create(t.orgId, {});
  const gate = t.control.gate("snapshot");
  const first = sandboxSnapshots.create(t.orgId, sbx.id, { name: "first" });
  assert.equal(first.status, "creating");
  await gate.entered;
  assert.throws(
    () => sandboxSnapshots.create(t.orgId, sbx.id, { name: "second" }),
    code("snapshot_in_progress"),
  );
  await assert.rejects(
    sandboxes.create(t.orgId, { fromSnapshot: "first" }),
    code("snapshot_not_ready"),
  );
  gate.release();
  await sandboxSnapshots.drain();
  assert.equal((await snapshots.get(t.orgId, "first")).status, "ready");

  t.control.fail("snapshot");
  sandboxSnapshots.create(t.orgId, sbx.id, { name: "broken" });
  await sandboxSnapshots.drain();
  const broken = await snapshots.get(t.orgId, "broken");
  assert.equal(broken.status, "failed");
  assert.match(broken.failureReason ?? "", /injected failure of snapshot/);
  await assert.rejects(
    sandboxes.create(t.orgId, { fromSnapshot: "broken" }),
    code("snapshot_failed"),
  );
  await sandboxes.kill(t.orgId, sbx.id);
});

test("a paused or stopped sandbox cannot be snapshotted; exec needs it ready", async () => {
  await using t = await setup();
  const { sandboxes, sandboxSnapshots, io } = t.services;
  const sbx = await sandboxes.create(t.orgId, {});
  await sandboxes.pause(t.orgId, sbx.id);
  assert.throws(
    () => sandboxSnapshots.create(t.orgId, sbx.id, { name: "p" }),
    code("sandbox_paused"),
  );
  await assert.rejects(io.exec(t.orgId, sbx.id, { argv: ["true"] }), code("sandbox_paused"));
  await sandboxes.resume(t.orgId, sbx.id);
  // The process launcher runs commands on the host: "/", not the sandbox's /root.
  const ran = await io.exec(t.orgId, sbx.id, { argv: ["echo", "hi"], cwd: "/" });
  assert.equal(ran.exitCode, 0, Buffer.from(ran.stderr, "base64").toString());
  assert.equal(Buffer.from(ran.stdout, "base64").toString(), "hi\n");
  await sandboxes.kill(t.orgId, sbx.id);
  assert.throws(
    () => sandboxSnapshots.create(t.orgId, sbx.id, { name: "s" }),
    code("sandbox_not_running"),
  );
  await assert.rejects(io.exec(t.orgId, sbx.id, { argv: ["true"] }), code("sandbox_not_running"));
});

test("a volume being restored cannot be attached, and says so", async () => {
  await using t = await setup();
  const { sandboxes, volumes, snapshots } = t.services;
  const vol = await bootableVolume(t, "rolled");
  await writeFile(join(t.driver.writablePath(vol.id), "mark"), "one");
  await snapshots.createFromVolume(t.orgId, "rolled", { slug: "rolled-1" });
  const gate = t.control.gate("restore");
  const restoring = volumes.restore(t.orgId, "rolled", { snapshot: "rolled-1" });
  await gate.entered;
  await assert.rejects(sandboxes.create(t.orgId, { root: "rolled" }), (err: unknown) => {
    code("volume_in_use")(err);
    assert.match((err as Error).message, /being restored/);
    assert.doesNotMatch((err as Error).message, /null/);
    return true;
  });
  await assert.rejects(
    sandboxes.create(t.orgId, { volumes: { "/data": "rolled" } }),
    code("volume_in_use"),
  );
  gate.release();
  await restoring;
  const sbx = await sandboxes.create(t.orgId, { root: "rolled" });
  await sandboxes.kill(t.orgId, sbx.id);
});

test("a snapshot delete waits for the sandbox roots being copied from it", async () => {
  await using t = await setup();
  const { sandboxes, snapshots } = t.services;
  await bootableVolume(t, "base");
  await snapshots.createFromVolume(t.orgId, "base", { slug: "base-1" });
  const snap = await snapshots.get(t.orgId, "base-1");
  const gate = t.control.gate("create");
  const booting = sandboxes.create(t.orgId, { root: "base-1" });
  await gate.entered;
  const deleting = snapshots.delete(t.orgId, "base-1");
  // The record goes at once (no new copies start); the data stays while the copy runs.
  for (let i = 0; t.store.snapshots.byId(snap.id) && i < 1000; i++)
    await new Promise((r) => setImmediate(r));
  assert.equal(t.store.snapshots.byId(snap.id), undefined);
  assert.equal(await t.driver.has(snap.id), true, "the delete waits for the copy");
  gate.release();
  const sbx = await booting;
  await deleting;
  assert.equal(sbx.status, "ready");
  assert.equal(await t.driver.has(snap.id), false);
  await assert.rejects(snapshots.get(t.orgId, "base-1"), code("snapshot_not_found"));
  await sandboxes.kill(t.orgId, sbx.id);
});
