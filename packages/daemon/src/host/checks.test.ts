import assert from "node:assert/strict";
import { test } from "node:test";
import { evaluate, type HostFacts } from "./checks.ts";

const healthy: HostFacts = {
  uid: 0,
  tools: {
    btrfs: true,
    "mkfs.btrfs": true,
    mount: true,
    mmdebstrap: true,
    crun: true,
    nft: true,
    ip: true,
    newuidmap: true,
  },
  filesystems: ["ext4", "btrfs", "overlay"],
  maxUserNamespaces: 15000,
  loopControl: true,
  cgroup: { mode: "unified", v2Controllers: ["cpu", "memory", "pids"], v1Controllers: [] },
  poolConfigured: false,
};

test("evaluate() passes a healthy host", () => {
  const r = evaluate(healthy);
  assert.equal(r.ok, true);
  assert.ok(r.checks.every((c) => c.ok));
});

test("evaluate() fails on a missing btrfs tool and names the Debian package to install", () => {
  const r = evaluate({ ...healthy, tools: { ...healthy.tools, btrfs: false } });
  assert.equal(r.ok, false);
  const c = r.checks.find((x) => x.name === "tool:btrfs");
  assert.equal(c?.ok, false);
  assert.equal(c?.fix, "apt-get install -y btrfs-progs");
});

test("evaluate() only warns about sandbox tools, and fails when not root", () => {
  assert.equal(evaluate({ ...healthy, tools: { ...healthy.tools, crun: false } }).ok, true);
  assert.equal(evaluate({ ...healthy, uid: 1000 }).ok, false);
});

test("evaluate() needs loop devices only when no pool is configured", () => {
  assert.equal(evaluate({ ...healthy, loopControl: false }).ok, false);
  assert.equal(evaluate({ ...healthy, loopControl: false, poolConfigured: true }).ok, true);
});

test("evaluate() explains hybrid cgroups whose v2 hierarchy holds a controller crun refuses", () => {
  const r = evaluate({
    ...healthy,
    cgroup: {
      mode: "hybrid",
      v2Controllers: ["hugetlb"],
      v1Controllers: ["cpu", "memory", "pids", "freezer"],
    },
  });
  const c = r.checks.find((x) => x.name === "cgroups");
  assert.equal(c?.ok, false);
  assert.match(c?.detail ?? "", /hugetlb/);
  assert.match(c?.fix ?? "", /mount -t cgroup -o hugetlb/);
});
