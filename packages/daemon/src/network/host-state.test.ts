import assert from "node:assert/strict";
import { test } from "node:test";
import { formatNet } from "./addresses.ts";
import { parseAddresses, parseNftState, parseRoutes, strayElements } from "./host-state.ts";

// Trimmed output of `ip -j -4 addr` and `ip -j -4 route show table all` (iproute2 6.1).
const ADDR = `[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP","LOWER_UP"],"mtu":65536,"qdisc":"noqueue","operstate":"UNKNOWN","group":"default","txqlen":1000,"addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8,"scope":"host","label":"lo","valid_life_time":4294967295,"preferred_life_time":4294967295}]},{"ifindex":4,"ifname":"eth0","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1500,"qdisc":"fq_codel","operstate":"UP","group":"default","txqlen":1000,"addr_info":[{"family":"inet","local":"192.0.2.2","prefixlen":24,"broadcast":"192.0.2.255","scope":"global","label":"eth0","valid_life_time":4294967295,"preferred_life_time":4294967295}]},{"ifindex":9,"ifname":"strata0","addr_info":[{"family":"inet","local":"10.64.0.1","prefixlen":20}]}]`;
const ROUTES = `[{"dst":"default","gateway":"192.0.2.1","dev":"eth0","flags":[]},{"dst":"192.0.2.0/24","dev":"eth0","protocol":"kernel","scope":"link","prefsrc":"192.0.2.2","flags":[]},{"type":"local","dst":"127.0.0.0/8","table":"local","dev":"lo","protocol":"kernel","scope":"host","prefsrc":"127.0.0.1","flags":[]},{"type":"local","dst":"192.0.2.2","table":"local","dev":"eth0","protocol":"kernel","scope":"host","prefsrc":"192.0.2.2","flags":[]},{"type":"broadcast","dst":"192.0.2.255","table":"local","dev":"eth0","protocol":"kernel","scope":"link","prefsrc":"192.0.2.2","flags":[]},{"dst":"0.0.0.0/0","table":"51820","dev":"wg0","flags":[]}]`;
// Trimmed output of `nft -j list table inet strata` and `nft -j list set bridge strata ports` (nft 1.0.6).
const INET = `{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "inet", "name": "strata", "handle": 9}}, {"map": {"family": "inet", "name": "egress", "table": "strata", "type": "ipv4_addr", "handle": 7, "map": "verdict", "elem": [["10.64.0.2", {"jump": {"target": "sbx_0123456789abcdefghjk"}}], ["10.64.0.9", {"jump": {"target": "sbx_zzzzzzzzzzzzzzzzzzzz"}}]]}}, {"set": {"family": "inet", "name": "sbx_0123456789abcdefghjk_net", "table": "strata", "type": "ipv4_addr", "handle": 24, "flags": ["interval"], "elem": [{"prefix": {"addr": "203.0.113.0", "len": 24}}]}}, {"chain": {"family": "inet", "table": "strata", "name": "forward", "handle": 4, "type": "filter", "hook": "forward", "prio": 0, "policy": "accept"}}, {"chain": {"family": "inet", "table": "strata", "name": "sandbox_egress", "handle": 5}}, {"chain": {"family": "inet", "table": "strata", "name": "sbx_0123456789abcdefghjk", "handle": 23}}, {"rule": {"family": "inet", "table": "strata", "chain": "forward", "handle": 8, "expr": [{"jump": {"target": "sandbox_egress"}}]}}]}`;
const PORTS = `{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"set": {"family": "bridge", "name": "ports", "table": "strata", "type": ["ifname", "ether_addr", "ipv4_addr"], "handle": 3, "elem": [{"concat": ["strata-0002", "02:53:0a:40:00:02", "10.64.0.2"]}, {"concat": ["strata-0009", "02:53:0a:40:00:09", "10.64.0.9"]}]}}]}`;

test("parseAddresses() lists each interface's IPv4 addresses", () => {
  assert.deepEqual(parseAddresses(ADDR), [
    { ifname: "lo", address: "127.0.0.1", bits: 8 },
    { ifname: "eth0", address: "192.0.2.2", bits: 24 },
    { ifname: "strata0", address: "10.64.0.1", bits: 20 },
  ]);
  assert.deepEqual(parseAddresses(""), []);
});

test("parseRoutes() lists routed networks from every table, without default routes", () => {
  assert.deepEqual(parseRoutes(ROUTES).map(formatNet), [
    "192.0.2.0/24",
    "127.0.0.0/8",
    "192.0.2.2",
    "192.0.2.255",
  ]);
});

test("parseNftState() finds sandbox chains, egress map entries and port bindings", () => {
  const state = parseNftState(INET, PORTS);
  assert.deepEqual(state.chains, ["sbx_0123456789abcdefghjk"]);
  assert.deepEqual(
    [...state.egress],
    [
      ["10.64.0.2", "sbx_0123456789abcdefghjk"],
      ["10.64.0.9", "sbx_zzzzzzzzzzzzzzzzzzzz"],
    ],
  );
  assert.deepEqual(state.ports, [
    { veth: "strata-0002", mac: "02:53:0a:40:00:02", address: "10.64.0.2" },
    { veth: "strata-0009", mac: "02:53:0a:40:00:09", address: "10.64.0.9" },
  ]);
  assert.deepEqual(parseNftState("", ""), { chains: [], egress: new Map(), ports: [] });
});

test("strayElements() picks the elements no live sandbox owns", () => {
  const state = parseNftState(INET, PORTS);
  const live = [
    {
      link: {
        id: "sbx_0123456789abcdefghjk",
        veth: "strata-0002",
        mac: "02:53:0a:40:00:02",
        address: "10.64.0.2",
      },
      mapped: ["10.64.0.2"],
    },
  ];
  assert.deepEqual(strayElements(state, live), {
    ports: [{ id: "", veth: "strata-0009", mac: "02:53:0a:40:00:09", address: "10.64.0.9" }],
    egress: ["10.64.0.9"],
  });
});
