import assert from "node:assert/strict";
import { test } from "node:test";
import { egressTargets, parseAllowNet } from "./allow-net.ts";
import {
  attachRules,
  baseRuleset,
  bridgeBatch,
  detachLinkBatch,
  detachRules,
  hostLinkBatch,
  learnRules,
  netnsBatch,
  removeElements,
  removeRuleset,
} from "./ruleset.ts";

const text = (lines: string[]) => `${lines.join("\n")}\n`;
const link = {
  id: "sbx_0123456789abcdefghjk",
  veth: "strata-0002",
  mac: "02:53:0a:40:00:02",
  address: "10.64.0.2",
};

test("baseRuleset() builds both tables with NAT, the DNS redirect and isolation", () => {
  const got = baseRuleset({
    prefix: "strata",
    bridge: "strata0",
    subnet: "10.64.0.0/20",
    gateway: "10.64.0.1",
    dnsPort: 40000,
  });
  assert.equal(
    got,
    text([
      "add table inet strata",
      "add map inet strata egress { type ipv4_addr : verdict; }",
      "add chain inet strata prerouting { type nat hook prerouting priority dstnat; policy accept; }",
      "add chain inet strata input { type filter hook input priority filter; policy accept; }",
      "add chain inet strata sandbox_to_host",
      "add chain inet strata forward { type filter hook forward priority filter; policy accept; }",
      "add chain inet strata sandbox_egress",
      "add chain inet strata postrouting { type nat hook postrouting priority srcnat; policy accept; }",
      "add chain inet strata refuse",
      "flush chain inet strata prerouting",
      "flush chain inet strata input",
      "flush chain inet strata sandbox_to_host",
      "flush chain inet strata forward",
      "flush chain inet strata sandbox_egress",
      "flush chain inet strata postrouting",
      "flush chain inet strata refuse",
      "add rule inet strata refuse meta l4proto tcp reject with tcp reset",
      "add rule inet strata refuse reject with icmpx admin-prohibited",
      'add rule inet strata prerouting iifname "strata0" ip daddr 10.64.0.1 udp dport 53 dnat ip to 10.64.0.1:40000',
      'add rule inet strata input iifname "strata0" jump sandbox_to_host',
      "add rule inet strata sandbox_to_host ct state established,related accept",
      "add rule inet strata sandbox_to_host ip daddr 10.64.0.1 udp dport 40000 ct status dnat accept",
      "add rule inet strata sandbox_to_host counter goto refuse",
      'add rule inet strata forward iifname "strata0" jump sandbox_egress',
      'add rule inet strata forward oifname "strata0" ct state established,related accept',
      'add rule inet strata forward oifname "strata0" counter goto refuse',
      "add rule inet strata sandbox_egress ct state established,related accept",
      "add rule inet strata sandbox_egress meta nfproto ipv6 counter drop",
      'add rule inet strata sandbox_egress oifname "strata0" counter goto refuse',
      "add rule inet strata sandbox_egress ip daddr { 10.64.0.0/20, 169.254.0.0/16 } counter goto refuse",
      "add rule inet strata sandbox_egress ip saddr vmap @egress",
      'add rule inet strata postrouting ip saddr 10.64.0.0/20 oifname != "strata0" masquerade',
      "add table bridge strata",
      "add set bridge strata ports { type ifname . ether_addr . ipv4_addr; }",
      "add chain bridge strata prerouting { type filter hook prerouting priority filter; policy accept; }",
      "add chain bridge strata forward { type filter hook forward priority filter; policy accept; }",
      "flush chain bridge strata prerouting",
      "flush chain bridge strata forward",
      'add rule bridge strata prerouting iifname != "strata-*" accept',
      "add rule bridge strata prerouting iifname . ether saddr . ip saddr @ports accept",
      "add rule bridge strata prerouting iifname . ether saddr . arp saddr ip @ports iifname . arp saddr ether . arp saddr ip @ports accept",
      "add rule bridge strata prerouting counter drop",
      'add rule bridge strata forward iifname "strata-*" counter drop',
    ]),
  );
});

test("baseRuleset() without a DNS forwarder has no redirect and no DNS exception", () => {
  const got = baseRuleset({
    prefix: "st4d568a",
    bridge: "st4d568a0",
    subnet: "10.80.0.0/20",
    gateway: "10.80.0.1",
    dnsPort: undefined,
  });
  assert.doesNotMatch(got, /dnat|dport 53/);
  assert.match(
    got,
    /^add rule inet st4d568a sandbox_to_host ct state established,related accept$/m,
  );
  assert.match(got, /^add rule bridge st4d568a forward iifname "st4d568a-\*" counter drop$/m);
});

test("attachRules() gives a restricted sandbox its chain, sets and egress map entry", () => {
  const rules = parseAllowNet(["203.0.113.0/24", "mirror.example.org", "198.51.100.7:443"]);
  const resolved = new Map([["mirror.example.org", ["192.0.2.132", "203.0.113.9"]]]);
  assert.equal(
    attachRules("strata", link, egressTargets(rules, resolved)),
    text([
      'add element bridge strata ports { "strata-0002" . 02:53:0a:40:00:02 . 10.64.0.2 }',
      "add set inet strata sbx_0123456789abcdefghjk_net { type ipv4_addr; flags interval; }",
      "add set inet strata sbx_0123456789abcdefghjk_svc { type ipv4_addr . inet_service; flags interval; }",
      "add set inet strata sbx_0123456789abcdefghjk_dns { type ipv4_addr; flags timeout; }",
      "add set inet strata sbx_0123456789abcdefghjk_dnssvc { type ipv4_addr . inet_service; flags timeout; }",
      "add element inet strata sbx_0123456789abcdefghjk_net { 203.0.113.0/24, 192.0.2.132 }",
      "add element inet strata sbx_0123456789abcdefghjk_svc { 198.51.100.7 . 443 }",
      "add chain inet strata sbx_0123456789abcdefghjk",
      "add rule inet strata sbx_0123456789abcdefghjk ip daddr @sbx_0123456789abcdefghjk_net accept",
      "add rule inet strata sbx_0123456789abcdefghjk ip daddr @sbx_0123456789abcdefghjk_dns accept",
      "add rule inet strata sbx_0123456789abcdefghjk meta l4proto { tcp, udp } ip daddr . th dport @sbx_0123456789abcdefghjk_svc accept",
      "add rule inet strata sbx_0123456789abcdefghjk meta l4proto { tcp, udp } ip daddr . th dport @sbx_0123456789abcdefghjk_dnssvc accept",
      "add rule inet strata sbx_0123456789abcdefghjk counter goto refuse",
      "add element inet strata egress { 10.64.0.2 : jump sbx_0123456789abcdefghjk }",
    ]),
  );
});

test("attachRules() for an unrestricted sandbox only binds its bridge port", () => {
  assert.equal(
    attachRules("strata", link),
    'add element bridge strata ports { "strata-0002" . 02:53:0a:40:00:02 . 10.64.0.2 }\n',
  );
});

test("detachRules() removes whatever exists of a sandbox's rules, in one transaction", () => {
  assert.equal(
    detachRules("strata", { id: link.id, port: link, mapped: ["10.64.0.2"], egress: true }),
    text([
      'add element bridge strata ports { "strata-0002" . 02:53:0a:40:00:02 . 10.64.0.2 }',
      'delete element bridge strata ports { "strata-0002" . 02:53:0a:40:00:02 . 10.64.0.2 }',
      "delete element inet strata egress { 10.64.0.2 }",
      "add chain inet strata sbx_0123456789abcdefghjk",
      "flush chain inet strata sbx_0123456789abcdefghjk",
      "delete chain inet strata sbx_0123456789abcdefghjk",
      "add set inet strata sbx_0123456789abcdefghjk_net { type ipv4_addr; flags interval; }",
      "delete set inet strata sbx_0123456789abcdefghjk_net",
      "add set inet strata sbx_0123456789abcdefghjk_svc { type ipv4_addr . inet_service; flags interval; }",
      "delete set inet strata sbx_0123456789abcdefghjk_svc",
      "add set inet strata sbx_0123456789abcdefghjk_dns { type ipv4_addr; flags timeout; }",
      "delete set inet strata sbx_0123456789abcdefghjk_dns",
      "add set inet strata sbx_0123456789abcdefghjk_dnssvc { type ipv4_addr . inet_service; flags timeout; }",
      "delete set inet strata sbx_0123456789abcdefghjk_dnssvc",
    ]),
  );
});

test("detachRules() of an unrestricted sandbox only unbinds its port", () => {
  assert.equal(
    detachRules("strata", { id: link.id, port: link, mapped: [], egress: false }),
    text([
      'add element bridge strata ports { "strata-0002" . 02:53:0a:40:00:02 . 10.64.0.2 }',
      'delete element bridge strata ports { "strata-0002" . 02:53:0a:40:00:02 . 10.64.0.2 }',
    ]),
  );
});

test("learnRules() adds or renews learned addresses with their timeouts", () => {
  assert.equal(
    learnRules("strata", link.id, [
      { address: "192.0.2.132", timeoutS: 90 },
      { address: "192.0.2.133", port: 443, timeoutS: 330 },
    ]),
    text([
      "add element inet strata sbx_0123456789abcdefghjk_dns { 192.0.2.132 timeout 90s }",
      "delete element inet strata sbx_0123456789abcdefghjk_dns { 192.0.2.132 }",
      "add element inet strata sbx_0123456789abcdefghjk_dns { 192.0.2.132 timeout 90s }",
      "add element inet strata sbx_0123456789abcdefghjk_dnssvc { 192.0.2.133 . 443 timeout 330s }",
      "delete element inet strata sbx_0123456789abcdefghjk_dnssvc { 192.0.2.133 . 443 }",
      "add element inet strata sbx_0123456789abcdefghjk_dnssvc { 192.0.2.133 . 443 timeout 330s }",
    ]),
  );
  assert.equal(learnRules("strata", link.id, []), "");
});

test("removeElements() and removeRuleset() build idempotent deletions", () => {
  assert.equal(
    removeElements("strata", { ports: [link], egress: ["10.64.0.9"] }),
    text([
      'delete element bridge strata ports { "strata-0002" . 02:53:0a:40:00:02 . 10.64.0.2 }',
      "delete element inet strata egress { 10.64.0.9 }",
    ]),
  );
  assert.equal(removeElements("strata", { ports: [], egress: [] }), "");
  assert.equal(
    removeRuleset("strata"),
    text([
      "add table inet strata",
      "delete table inet strata",
      "add table bridge strata",
      "delete table bridge strata",
    ]),
  );
});

test("hostLinkBatch() and netnsBatch() set up a sandbox in two ip batches", () => {
  assert.equal(
    hostLinkBatch({
      netns: "strata-0123456789abcdefghjk",
      bridge: "strata0",
      veth: "strata-0002",
      mac: link.mac,
      sandboxId: link.id,
    }),
    text([
      "netns add strata-0123456789abcdefghjk",
      "link add strata-0002 master strata0 type veth peer name eth0 address 02:53:0a:40:00:02 netns strata-0123456789abcdefghjk",
      "link set dev strata-0002 alias sbx_0123456789abcdefghjk",
      "link set dev strata-0002 addrgenmode none",
      "link set dev strata-0002 type bridge_slave isolated on",
      "link set dev strata-0002 up",
    ]),
  );
  assert.equal(
    netnsBatch({ address: "10.64.0.2", gateway: "10.64.0.1", ipv6: true }),
    text([
      "link set dev lo up",
      "addr del ::1/128 dev lo",
      "link set dev eth0 addrgenmode none",
      "addr add 10.64.0.2/32 dev eth0",
      "link set dev eth0 up",
      "route add default via 10.64.0.1 dev eth0 onlink",
    ]),
  );
  assert.doesNotMatch(
    netnsBatch({ address: "10.64.0.2", gateway: "10.64.0.1", ipv6: false }),
    /::1|addrgenmode/,
  );
});

test("bridgeBatch() and detachLinkBatch() create the bridge and remove what exists", () => {
  assert.equal(
    bridgeBatch({ bridge: "strata0", mac: "02:53:0a:40:00:01", gateway: "10.64.0.1", bits: 20 }),
    text([
      "link add strata0 address 02:53:0a:40:00:01 type bridge",
      "link set dev strata0 addrgenmode none",
      "addr add 10.64.0.1/20 dev strata0",
      "link set dev strata0 up",
    ]),
  );
  assert.equal(
    detachLinkBatch({ veth: "strata-0002", netns: "strata-0123456789abcdefghjk" }),
    text(["link del strata-0002", "netns del strata-0123456789abcdefghjk"]),
  );
  assert.equal(
    detachLinkBatch({ netns: "strata-0123456789abcdefghjk" }),
    "netns del strata-0123456789abcdefghjk\n",
  );
  assert.equal(detachLinkBatch({}), "");
});

const isRoot = process.getuid?.() === 0;
test("nft accepts the built rules (nft --check, a dry run)", {
  skip: !isRoot && "needs root",
}, async () => {
  const { run } = await import("../lib/exec.ts");
  const rules = parseAllowNet(["203.0.113.0/24", "198.51.100.7:443", "*.example.com"]);
  const input =
    baseRuleset({
      prefix: "ntcheck",
      bridge: "ntcheck0",
      subnet: "10.64.0.0/20",
      gateway: "10.64.0.1",
      dnsPort: 40000,
    }) +
    attachRules("ntcheck", { ...link, veth: "ntcheck-0002" }, egressTargets(rules, new Map())) +
    learnRules("ntcheck", link.id, [{ address: "192.0.2.80", port: 443, timeoutS: 90 }]);
  await run(["nft", "--check", "-f", "-"], { input });
});
