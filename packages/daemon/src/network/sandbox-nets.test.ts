import assert from "node:assert/strict";
import { test } from "node:test";
import { AddressPool, parseCidr } from "./addresses.ts";
import { leftover, newSandboxNet, SandboxNets } from "./sandbox-nets.ts";

function nets(): SandboxNets {
  const c = parseCidr("10.70.0.0/29")!;
  return new SandboxNets(new AddressPool({ base: c.address, bits: c.bits }));
}

test("SandboxNets finds a tracked network by id and by address", () => {
  const n = nets();
  const s = newSandboxNet("sbx_aaaaaaaaaaaaaaaaaaaa", { index: n.pool.allocate() });
  n.track(s);
  assert.equal(n.get(s.id), s);
  assert.equal(n.atAddress(n.pool.address(s.index!)), s);
  assert.deepEqual(n.ids(), [s.id]);
  assert.equal(s.hostId, s.id);
});

test("SandboxNets.forget() frees the address for the next allocation only once", () => {
  const n = nets();
  const a = newSandboxNet("sbx_aaaaaaaaaaaaaaaaaaaa", { index: n.pool.allocate() });
  n.track(a);
  const sizeBefore = n.pool.size;
  n.forget(a);
  assert.equal(n.get(a.id), undefined);
  assert.equal(n.atAddress(n.pool.address(a.index!)), undefined);
  assert.equal(n.pool.size, sizeBefore - 1);
  n.forget(a);
  assert.equal(n.pool.size, sizeBefore - 1);
});

test("SandboxNets.replace() hands a warm network's address to its sandbox", () => {
  const n = nets();
  const spare = newSandboxNet("sbx_poolaaaaaaaaaaaaaaaa", { index: n.pool.allocate() });
  n.track(spare);
  const s = { ...spare, id: "sbx_bbbbbbbbbbbbbbbbbbbb", spare: false };
  n.replace(spare, s);
  assert.deepEqual(n.ids(), [s.id]);
  assert.equal(n.atAddress(n.pool.address(s.index!)), s);
  assert.equal(s.hostId, spare.id);
  // Forgetting the old record does not take the address from its new owner.
  n.forget(spare);
  assert.equal(n.atAddress(n.pool.address(s.index!)), s);
  assert.equal(n.pool.size, 1);
});

test("leftover() is a network with no address whose teardown removes egress state too", () => {
  const l = leftover("sbx_cccccccccccccccccccc");
  assert.equal(l.index, undefined);
  assert.deepEqual(l.rules, []);
  const n = nets();
  n.forget(l);
  assert.equal(n.size, 0);
});
