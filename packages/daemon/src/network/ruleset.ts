/**
 * Pure builders of the input the network module feeds to `nft -f -` and `ip -batch -`.
 *
 * Every daemon owns two nft tables named after its prefix:
 *
 * - `inet <prefix>`: NAT for the sandbox subnet, the DNS redirect to the daemon's forwarder,
 *   and the filter that keeps sandboxes away from the host (input), from each other and
 *   from link-local addresses (forward); sandboxes with `allowNet` jump to a chain of their
 *   own through the `egress` verdict map, keyed by source address.
 * - `bridge <prefix>`: frames from a sandbox port must carry that port's MAC and address
 *   (no spoofing another sandbox's address to borrow its policy, no poisoning the bridge's
 *   MAC table) and are never bridged to another port (belt and braces with port isolation).
 *
 * The text uses one command per line so that loading is idempotent (`add` creates what is
 * missing, `flush` + `add rule` replaces base chain contents) and one batch is one atomic
 * nft transaction.
 */

import { formatNet } from "./addresses.ts";
import type { EgressTargets } from "./allow-net.ts";

/** The daemon-wide inputs of the base ruleset. */
export interface BaseRules {
  prefix: string;
  bridge: string;
  /** The sandbox subnet, as CIDR. */
  subnet: string;
  gateway: string;
  /** Local UDP port of the DNS forwarder, which sandboxes reach as gateway:53. */
  dnsPort: number | undefined;
}

/** One sandbox's addressing as the rules see it. */
export interface SandboxLink {
  id: string;
  /** Host-side veth name. */
  veth: string;
  mac: string;
  address: string;
}

/** Refused traffic goes to the `refuse` chain, so the sender fails at once, not on a timeout. */
const REJECT = "counter goto refuse";

/** The tables and base chains of a daemon; loading it again keeps per-sandbox state. */
export function baseRuleset(b: BaseRules): string {
  const t = `inet ${b.prefix}`;
  const br = `bridge ${b.prefix}`;
  const dev = JSON.stringify(b.bridge);
  const ports = JSON.stringify(`${b.prefix}-*`);
  const lines = [
    `add table ${t}`,
    `add map ${t} egress { type ipv4_addr : verdict; }`,
    `add chain ${t} prerouting { type nat hook prerouting priority dstnat; policy accept; }`,
    `add chain ${t} input { type filter hook input priority filter; policy accept; }`,
    `add chain ${t} sandbox_to_host`,
    `add chain ${t} forward { type filter hook forward priority filter; policy accept; }`,
    `add chain ${t} sandbox_egress`,
    `add chain ${t} postrouting { type nat hook postrouting priority srcnat; policy accept; }`,
    `add chain ${t} refuse`,
    ...[
      "prerouting",
      "input",
      "sandbox_to_host",
      "forward",
      "sandbox_egress",
      "postrouting",
      "refuse",
    ].map((c) => `flush chain ${t} ${c}`),
  ];
  lines.push(
    // A TCP reset for TCP: the kernel rate-limits ICMP errors per destination (1/s after a
    // burst), so connect() to a refused address would often hang until its timeout.
    `add rule ${t} refuse meta l4proto tcp reject with tcp reset`,
    `add rule ${t} refuse reject with icmpx admin-prohibited`,
  );
  if (b.dnsPort !== undefined)
    lines.push(
      `add rule ${t} prerouting iifname ${dev} ip daddr ${b.gateway} udp dport 53 dnat ip to ${b.gateway}:${b.dnsPort}`,
    );
  lines.push(
    `add rule ${t} input iifname ${dev} jump sandbox_to_host`,
    // Replies to connections the host opened (the reverse proxy) come back through here.
    `add rule ${t} sandbox_to_host ct state established,related accept`,
  );
  if (b.dnsPort !== undefined)
    lines.push(
      `add rule ${t} sandbox_to_host ip daddr ${b.gateway} udp dport ${b.dnsPort} ct status dnat accept`,
    );
  lines.push(
    `add rule ${t} sandbox_to_host ${REJECT}`,
    `add rule ${t} forward iifname ${dev} jump sandbox_egress`,
    `add rule ${t} forward oifname ${dev} ct state established,related accept`,
    `add rule ${t} forward oifname ${dev} ${REJECT}`,
    `add rule ${t} sandbox_egress ct state established,related accept`,
    `add rule ${t} sandbox_egress meta nfproto ipv6 counter drop`,
    // Hairpin through the gateway: a sandbox routing to another one via the host.
    `add rule ${t} sandbox_egress oifname ${dev} ${REJECT}`,
    `add rule ${t} sandbox_egress ip daddr { ${b.subnet}, 169.254.0.0/16 } ${REJECT}`,
    `add rule ${t} sandbox_egress ip saddr vmap @egress`,
    `add rule ${t} postrouting ip saddr ${b.subnet} oifname != ${dev} masquerade`,
    `add table ${br}`,
    `add set ${br} ports { type ifname . ether_addr . ipv4_addr; }`,
    `add chain ${br} prerouting { type filter hook prerouting priority filter; policy accept; }`,
    `add chain ${br} forward { type filter hook forward priority filter; policy accept; }`,
    `flush chain ${br} prerouting`,
    `flush chain ${br} forward`,
    // Matching ports by name: this kernel has no NFT_BRIDGE_META, so no `meta ibrname`.
    `add rule ${br} prerouting iifname != ${ports} accept`,
    `add rule ${br} prerouting iifname . ether saddr . ip saddr @ports accept`,
    `add rule ${br} prerouting iifname . ether saddr . arp saddr ip @ports iifname . arp saddr ether . arp saddr ip @ports accept`,
    // IPv6, spoofed frames and anything that is neither IPv4 nor ARP.
    `add rule ${br} prerouting counter drop`,
    `add rule ${br} forward iifname ${ports} counter drop`,
  );
  return `${lines.join("\n")}\n`;
}

/** Removes both tables, whether they exist or not (nft 1.0.6 has no `destroy`). */
export function removeRuleset(prefix: string): string {
  return [
    `add table inet ${prefix}`,
    `delete table inet ${prefix}`,
    `add table bridge ${prefix}`,
    `delete table bridge ${prefix}`,
    "",
  ].join("\n");
}

/** The names of a restricted sandbox's chain and sets (its chain is named by its id). */
export function egressNames(sandboxId: string) {
  return {
    chain: sandboxId,
    /** Static networks, any port. */
    nets: `${sandboxId}_net`,
    /** Static network . port pairs. */
    services: `${sandboxId}_svc`,
    /** Addresses learned from DNS answers, any port, with timeouts. */
    dnsNets: `${sandboxId}_dns`,
    /** Address . port pairs learned from DNS answers, with timeouts. */
    dnsServices: `${sandboxId}_dnssvc`,
  };
}

const SET_SPECS = (n: ReturnType<typeof egressNames>) =>
  [
    [n.nets, "type ipv4_addr; flags interval;"],
    [n.services, "type ipv4_addr . inet_service; flags interval;"],
    [n.dnsNets, "type ipv4_addr; flags timeout;"],
    [n.dnsServices, "type ipv4_addr . inet_service; flags timeout;"],
  ] as const;

function portElement(s: SandboxLink): string {
  return `{ ${JSON.stringify(s.veth)} . ${s.mac} . ${s.address} }`;
}

/**
 * The rules of one sandbox: its bridge port binding and, with `egress` (it has allowNet),
 * its egress chain and sets. Without `egress` the sandbox is unrestricted.
 */
export function attachRules(prefix: string, s: SandboxLink, egress?: EgressTargets): string {
  const lines = [`add element bridge ${prefix} ports ${portElement(s)}`];
  if (egress) {
    const t = `inet ${prefix}`;
    const n = egressNames(s.id);
    for (const [name, spec] of SET_SPECS(n)) lines.push(`add set ${t} ${name} { ${spec} }`);
    if (egress.nets.length > 0)
      lines.push(`add element ${t} ${n.nets} { ${egress.nets.map(formatNet).join(", ")} }`);
    if (egress.services.length > 0)
      lines.push(
        `add element ${t} ${n.services} { ${egress.services.map((x) => `${formatNet(x.net)} . ${x.port}`).join(", ")} }`,
      );
    lines.push(
      `add chain ${t} ${n.chain}`,
      `add rule ${t} ${n.chain} ip daddr @${n.nets} accept`,
      `add rule ${t} ${n.chain} ip daddr @${n.dnsNets} accept`,
      `add rule ${t} ${n.chain} meta l4proto { tcp, udp } ip daddr . th dport @${n.services} accept`,
      `add rule ${t} ${n.chain} meta l4proto { tcp, udp } ip daddr . th dport @${n.dnsServices} accept`,
      `add rule ${t} ${n.chain} ${REJECT}`,
      `add element ${t} egress { ${s.address} : jump ${n.chain} }`,
    );
  }
  return `${lines.join("\n")}\n`;
}

/**
 * Removes one sandbox's rules, whichever of them exist: nft 1.0.6 has no `destroy`, so each
 * object is first added (a no-op when present) and then deleted, in one transaction.
 * `mapped` lists the addresses the `egress` map sends to the sandbox's chain: a map
 * element cannot be added idempotently (adding a key bound to another verdict fails), and
 * a chain some element still jumps to cannot be deleted. `egress: false` (an unrestricted
 * sandbox) skips the chain and sets: deleting them costs the kernel an RCU grace period.
 */
export function detachRules(
  prefix: string,
  s: { id: string; port?: SandboxLink; mapped: readonly string[]; egress: boolean },
): string {
  const t = `inet ${prefix}`;
  const n = egressNames(s.id);
  const lines: string[] = [];
  if (s.port) {
    lines.push(
      `add element bridge ${prefix} ports ${portElement(s.port)}`,
      `delete element bridge ${prefix} ports ${portElement(s.port)}`,
    );
  }
  for (const a of s.mapped) lines.push(`delete element ${t} egress { ${a} }`);
  if (!s.egress) return `${lines.join("\n")}\n`;
  lines.push(
    `add chain ${t} ${n.chain}`,
    `flush chain ${t} ${n.chain}`,
    `delete chain ${t} ${n.chain}`,
  );
  for (const [name, spec] of SET_SPECS(n))
    lines.push(`add set ${t} ${name} { ${spec} }`, `delete set ${t} ${name}`);
  return `${lines.join("\n")}\n`;
}

/** Removes stray elements found on the host: ports and egress keys nothing owns. */
export function removeElements(
  prefix: string,
  stray: { ports: readonly SandboxLink[]; egress: readonly string[] },
): string {
  const lines = [
    ...stray.ports.map((p) => `delete element bridge ${prefix} ports ${portElement(p)}`),
    ...stray.egress.map((a) => `delete element inet ${prefix} egress { ${a} }`),
  ];
  return lines.length > 0 ? `${lines.join("\n")}\n` : "";
}

/** An address (and port) a DNS answer allowed, kept for `timeoutS` seconds. */
export interface LearnedTarget {
  address: string;
  port?: number;
  timeoutS: number;
}

/**
 * Adds addresses learned from DNS answers to a sandbox's sets, or renews their timeouts:
 * `add` does not refresh an existing element, so each is added, deleted and added again.
 */
export function learnRules(
  prefix: string,
  sandboxId: string,
  targets: readonly LearnedTarget[],
): string {
  const t = `inet ${prefix}`;
  const n = egressNames(sandboxId);
  const lines: string[] = [];
  for (const x of targets) {
    const set = x.port === undefined ? n.dnsNets : n.dnsServices;
    const key = x.port === undefined ? x.address : `${x.address} . ${x.port}`;
    lines.push(
      `add element ${t} ${set} { ${key} timeout ${x.timeoutS}s }`,
      `delete element ${t} ${set} { ${key} }`,
      `add element ${t} ${set} { ${key} timeout ${x.timeoutS}s }`,
    );
  }
  return lines.length > 0 ? `${lines.join("\n")}\n` : "";
}

/** `ip -batch -` input that creates the daemon's bridge with its gateway address. */
export function bridgeBatch(b: {
  bridge: string;
  mac: string;
  gateway: string;
  bits: number;
}): string {
  return [
    `link add ${b.bridge} address ${b.mac} type bridge`,
    // The bridge is the sandboxes' IPv4 gateway only: no IPv6 link-local address on it.
    `link set dev ${b.bridge} addrgenmode none`,
    `addr add ${b.gateway}/${b.bits} dev ${b.bridge}`,
    `link set dev ${b.bridge} up`,
    "",
  ].join("\n");
}

/**
 * `ip -batch -` input, run in the host's netns, that creates a sandbox's netns and its veth
 * pair: the host end on the bridge (isolated, labelled with the sandbox id so a restarted
 * daemon can tell whose it is), the sandbox end as eth0 inside the netns.
 */
export function hostLinkBatch(l: {
  netns: string;
  bridge: string;
  veth: string;
  mac: string;
  sandboxId: string;
}): string {
  return [
    `netns add ${l.netns}`,
    `link add ${l.veth} master ${l.bridge} type veth peer name eth0 address ${l.mac} netns ${l.netns}`,
    // ip ignores `alias` on `link add`.
    `link set dev ${l.veth} alias ${l.sandboxId}`,
    `link set dev ${l.veth} addrgenmode none`,
    `link set dev ${l.veth} type bridge_slave isolated on`,
    `link set dev ${l.veth} up`,
    "",
  ].join("\n");
}

/**
 * `ip -n <netns> -batch -` input that configures the inside of a sandbox's netns.
 *
 * The address is a /32 with an on-link default route, so every packet, even one for
 * another sandbox, goes to the gateway, where the forward chain rejects it at once (a
 * subnet route would make sandboxes ARP for each other and hang until ARP times out).
 *
 * IPv6 is switched off by leaving eth0 without addresses (addrgenmode none, set before it
 * comes up) and removing lo's ::1: writing the disable_ipv6 sysctl would need a process
 * inside the netns, an extra exec per sandbox. Sandbox code cannot turn it back on: the
 * netns belongs to the host's user namespace, so sandbox root lacks CAP_NET_ADMIN in it.
 */
export function netnsBatch(l: { address: string; gateway: string; ipv6: boolean }): string {
  return [
    "link set dev lo up",
    ...(l.ipv6 ? ["addr del ::1/128 dev lo", "link set dev eth0 addrgenmode none"] : []),
    `addr add ${l.address}/32 dev eth0`,
    "link set dev eth0 up",
    `route add default via ${l.gateway} dev eth0 onlink`,
    "",
  ].join("\n");
}

/** `ip -batch -` input that removes a sandbox's veth and netns (only those that exist). */
export function detachLinkBatch(l: { veth?: string; netns?: string }): string {
  const lines = [
    ...(l.veth ? [`link del ${l.veth}`] : []),
    ...(l.netns ? [`netns del ${l.netns}`] : []),
  ];
  return lines.length > 0 ? `${lines.join("\n")}\n` : "";
}
