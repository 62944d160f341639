import assert from "node:assert/strict";
import { test } from "node:test";
import {
  AddressPool,
  bridgeName,
  chooseSubnet,
  formatNet,
  macOf,
  netnsName,
  parseCidr,
  parseIpv4,
  sandboxOfNetns,
  validateSubnet,
  vethIndex,
  vethName,
} from "./addresses.ts";

const net = (s: string) => {
  const c = parseCidr(s)!;
  return { base: c.address, bits: c.bits };
};

test("parseIpv4() reads dotted quads and refuses leading zeros and out-of-range octets", () => {
  assert.equal(parseIpv4("10.64.0.1"), 0x0a400001);
  assert.equal(parseIpv4("255.255.255.255"), 0xffffffff);
  for (const bad of ["010.0.0.1", "1.2.3", "1.2.3.256", "1.2.3.4.5", "a.b.c.d", ""])
    assert.equal(parseIpv4(bad), undefined, bad);
});

test("chooseSubnet() is stable for a prefix, differs between prefixes and skips host routes", () => {
  const a = chooseSubnet("strata", []);
  assert.deepEqual(chooseSubnet("strata", []), a);
  assert.equal(a.bits, 20);
  assert.match(formatNet(a), /^10\.(6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7])\.\d+\.0\/20$/);
  assert.notDeepEqual(chooseSubnet("st4d568a", []), a);
  const moved = chooseSubnet("strata", [a]);
  assert.notDeepEqual(moved, a);
});

test("chooseSubnet() fails clearly when every candidate is taken", () => {
  assert.throws(
    () => chooseSubnet("strata", [net("10.64.0.0/10")]),
    /overlaps a host route; set the subnet/,
  );
});

test("validateSubnet() accepts a free network and names what is wrong otherwise", () => {
  assert.deepEqual(validateSubnet("10.200.0.0/24", [net("192.0.2.0/24")]), net("10.200.0.0/24"));
  assert.throws(
    () => validateSubnet("10.200.0.1/24", []),
    /"10.200.0.1\/24": host bits are set; did you mean 10.200.0.0\/24\?/,
  );
  assert.throws(() => validateSubnet("10.0.0.0/8", []), /prefix length must be 16 to 29/);
  assert.throws(() => validateSubnet("10.200.0.0", []), /expected an IPv4 CIDR/);
  assert.throws(
    () => validateSubnet("192.0.2.0/25", [net("192.0.2.0/24")]),
    /overlaps 192.0.2.0\/24/,
  );
});

test("AddressPool hands out addresses next-fit, skips gateway and broadcast, and fills up", () => {
  const pool = new AddressPool(net("10.64.0.0/29"));
  assert.equal(pool.gateway, "10.64.0.1");
  assert.equal(pool.capacity, 5);
  const got = [1, 2, 3, 4, 5].map(() => pool.allocate());
  assert.deepEqual(got, [2, 3, 4, 5, 6]);
  assert.throws(() => pool.allocate(), /all 5 addresses of 10.64.0.0\/29 are in use/);
  pool.release(3);
  assert.equal(pool.allocate(), 3);
  assert.equal(pool.address(6), "10.64.0.6");
  assert.equal(pool.indexOf("10.64.0.6"), 6);
  assert.equal(pool.indexOf("10.64.0.7"), undefined, "broadcast");
  assert.equal(pool.indexOf("10.64.0.1"), undefined, "gateway");
});

test("AddressPool reuses a released address as late as possible", () => {
  const pool = new AddressPool(net("10.64.0.0/24"));
  const first = pool.allocate();
  pool.release(first);
  assert.notEqual(pool.allocate(), first);
});

test("host object names carry the prefix and fit in 15-byte interface names", () => {
  assert.equal(bridgeName("st4d568a"), "st4d568a0");
  assert.equal(vethName("st4d568a", 4094), "st4d568a-0ffe");
  assert.ok(vethName("st4d568a", 0xffff).length <= 15);
  assert.equal(vethIndex("st4d568a", "st4d568a-0ffe"), 4094);
  assert.equal(vethIndex("st", "st4d568a-0ffe"), undefined, "another daemon's veth");
  assert.equal(netnsName("strata", "sbx_0123456789abcdefghjk"), "strata-0123456789abcdefghjk");
  assert.equal(sandboxOfNetns("strata", "strata-0123456789abcdefghjk"), "sbx_0123456789abcdefghjk");
  assert.equal(sandboxOfNetns("st", "strata-0123456789abcdefghjk"), undefined);
  assert.equal(macOf("10.64.0.2"), "02:53:0a:40:00:02");
});
