/**
 * IPv4 arithmetic, the per-daemon subnet choice, the sandbox address pool and the names
 * of every host object the network module creates. Pure: no I/O.
 */
import { createHash, randomBytes } from "node:crypto";

/** An IPv4 network: its first address as an unsigned 32-bit number and its prefix length. */
export interface Ipv4Net {
  base: number;
  bits: number;
}

const OCTET = /^(0|[1-9][0-9]{0,2})$/;

/** Parses a dotted quad ("10.0.0.1"); leading zeros are refused (inet_aton reads them as octal). */
export function parseIpv4(s: string): number | undefined {
  const parts = s.split(".");
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!OCTET.test(p) || Number(p) > 255) return undefined;
    n = n * 256 + Number(p);
  }
  return n;
}

export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

/** Parses "a.b.c.d/n" (or a bare address as /32) without checking host bits. */
export function parseCidr(s: string): { address: number; bits: number } | undefined {
  const m = /^([0-9.]+)(?:\/([0-9]{1,2}))?$/.exec(s);
  if (!m) return undefined;
  const address = parseIpv4(m[1]!);
  const bits = m[2] === undefined ? 32 : Number(m[2]);
  if (address === undefined || bits > 32 || (m[2] !== undefined && !/^(0|[1-9][0-9]?)$/.test(m[2])))
    return undefined;
  return { address, bits };
}

/** The mask of a prefix length as an unsigned number (JS shifts are mod 32, hence the guard). */
export function maskOf(bits: number): number {
  return bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
}

/** The network an address belongs to at a prefix length. */
export function networkOf(address: number, bits: number): Ipv4Net {
  return { base: (address & maskOf(bits)) >>> 0, bits };
}

export function formatNet(net: Ipv4Net): string {
  return net.bits === 32 ? formatIpv4(net.base) : `${formatIpv4(net.base)}/${net.bits}`;
}

export function netSize(net: Ipv4Net): number {
  return 2 ** (32 - net.bits);
}

export function netContains(net: Ipv4Net, address: number): boolean {
  return (address & maskOf(net.bits)) >>> 0 === net.base;
}

/** Whether `outer` contains all of `inner`. */
export function netCovers(outer: Ipv4Net, inner: Ipv4Net): boolean {
  return outer.bits <= inner.bits && netContains(outer, inner.base);
}

export function netsOverlap(a: Ipv4Net, b: Ipv4Net): boolean {
  return netCovers(a, b) || netCovers(b, a);
}

/** Where automatic subnets come from, and their size: 1024 candidate /20s of 4093 sandboxes. */
export const SUBNET_POOL: Ipv4Net = { base: parseIpv4("10.64.0.0")!, bits: 10 };
export const SUBNET_BITS = 20;

/**
 * Picks this daemon's subnet: a /20 in 10.64.0.0/10 whose position is a hash of the prefix
 * (so a daemon keeps its subnet across restarts and two prefixes usually differ), moving
 * on to the next free one when it overlaps anything in `taken` (host routes, addresses,
 * resolvers — including another daemon's bridge, which settles hash collisions).
 */
export function chooseSubnet(prefix: string, taken: readonly Ipv4Net[]): Ipv4Net {
  const count = 2 ** (SUBNET_BITS - SUBNET_POOL.bits);
  const start = createHash("sha256").update(prefix).digest().readUInt32BE(0) % count;
  for (let i = 0; i < count; i++) {
    const base = SUBNET_POOL.base + ((start + i) % count) * 2 ** (32 - SUBNET_BITS);
    const net = { base, bits: SUBNET_BITS };
    if (!taken.some((t) => netsOverlap(t, net))) return net;
  }
  throw new Error(
    `Cannot choose a sandbox subnet: every /${SUBNET_BITS} of ${formatNet(SUBNET_POOL)} overlaps a host route; set the subnet explicitly`,
  );
}

/** Validates an explicit subnet option: a network of /16 to /29 that overlaps nothing in `taken`. */
export function validateSubnet(value: string, taken: readonly Ipv4Net[]): Ipv4Net {
  const c = parseCidr(value);
  if (!c || !value.includes("/"))
    throw new Error(
      `Invalid subnet ${JSON.stringify(value)}: expected an IPv4 CIDR such as 10.64.0.0/20`,
    );
  if (c.bits < 16 || c.bits > 29)
    throw new Error(`Invalid subnet ${JSON.stringify(value)}: the prefix length must be 16 to 29`);
  const net = networkOf(c.address, c.bits);
  if (net.base !== c.address)
    throw new Error(
      `Invalid subnet ${JSON.stringify(value)}: host bits are set; did you mean ${formatNet(net)}?`,
    );
  const clash = taken.find((t) => netsOverlap(t, net));
  if (clash)
    throw new Error(
      `Invalid subnet ${JSON.stringify(value)}: it overlaps ${formatNet(clash)}, which the host already routes`,
    );
  return net;
}

/**
 * The sandbox addresses of a subnet, by index: 1 is the gateway (the bridge), 2 up to the
 * one before broadcast are sandboxes. Allocation is next-fit, so a released address is
 * reused as late as possible (stale ARP and conntrack entries of the last owner age out).
 */
export class AddressPool {
  readonly subnet: Ipv4Net;
  #used = new Set<number>();
  #cursor = 2;

  constructor(subnet: Ipv4Net) {
    this.subnet = subnet;
  }

  get gateway(): string {
    return formatIpv4(this.subnet.base + 1);
  }

  get capacity(): number {
    return netSize(this.subnet) - 3;
  }

  get size(): number {
    return this.#used.size;
  }

  address(index: number): string {
    return formatIpv4(this.subnet.base + index);
  }

  /** The index of an address of this subnet that a sandbox may hold. */
  indexOf(address: string): number | undefined {
    const n = parseIpv4(address);
    if (n === undefined || !netContains(this.subnet, n)) return undefined;
    const i = n - this.subnet.base;
    return i >= 2 && i <= netSize(this.subnet) - 2 ? i : undefined;
  }

  allocate(): number {
    const last = netSize(this.subnet) - 2;
    for (let tries = 0; tries <= last; tries++) {
      const i = this.#cursor;
      this.#cursor = i >= last ? 2 : i + 1;
      if (!this.#used.has(i)) {
        this.#used.add(i);
        return i;
      }
    }
    throw new Error(
      `Cannot allocate a sandbox address: all ${this.capacity} addresses of ${formatNet(this.subnet)} are in use`,
    );
  }

  /** Marks an index as used (state found on the host at start). */
  reserve(index: number): void {
    this.#used.add(index);
  }

  release(index: number): void {
    this.#used.delete(index);
  }
}

/** What the config accepts as a prefix (see config.ts): it names interfaces, netns and tables. */
export const PREFIX_RE = /^[a-z][a-z0-9]{1,7}$/;
export const SANDBOX_ID_RE = /^sbx_[0-9a-z]{20}$/;

/** The daemon's bridge. Interface names hold 15 bytes; 8 + 1 fits. */
export function bridgeName(prefix: string): string {
  return `${prefix}0`;
}

/**
 * A sandbox's host-side veth: prefix, "-", 4 hex digits of its address index (≤ 13 bytes).
 * The "-" keeps one daemon's names from matching another's prefix ("st" vs "st4d568a").
 */
export function vethName(prefix: string, index: number): string {
  return `${prefix}-${index.toString(16).padStart(4, "0")}`;
}

export function vethIndex(prefix: string, name: string): number | undefined {
  const m = new RegExp(`^${prefix}-([0-9a-f]{4})$`).exec(name);
  return m ? Number.parseInt(m[1]!, 16) : undefined;
}

/**
 * The id a warm network is made under before it is handed to a sandbox (it names the
 * netns and labels the veth): `sbx_pool` and 16 random characters, shaped like a sandbox id.
 */
export function poolToken(): string {
  const alphabet = "0123456789abcdefghijklmnopqrstuvwxyz";
  return `sbx_pool${[...randomBytes(16)].map((b) => alphabet[b % 36]).join("")}`;
}

export function isPoolToken(id: string): boolean {
  return /^sbx_pool[0-9a-z]{16}$/.test(id);
}

/** A sandbox's netns: prefix, "-", the 20 characters of its id after "sbx_". */
export function netnsName(prefix: string, sandboxId: string): string {
  return `${prefix}-${sandboxId.slice(4)}`;
}

export function sandboxOfNetns(prefix: string, name: string): string | undefined {
  const m = new RegExp(`^${prefix}-([0-9a-z]{20})$`).exec(name);
  return m ? `sbx_${m[1]}` : undefined;
}

/**
 * A fixed, locally administered MAC for an address. The bridge gets one too: a bridge
 * without an explicit MAC takes the lowest MAC of its ports, so its MAC — the sandboxes'
 * gateway — would change whenever a sandbox comes or goes, leaving stale ARP entries.
 */
export function macOf(address: string): string {
  const n = parseIpv4(address);
  if (n === undefined) throw new Error(`Not an IPv4 address: ${JSON.stringify(address)}`);
  const hex = (b: number) => b.toString(16).padStart(2, "0");
  return [
    "02",
    "53",
    hex(n >>> 24),
    hex((n >>> 16) & 255),
    hex((n >>> 8) & 255),
    hex(n & 255),
  ].join(":");
}
