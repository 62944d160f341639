/**
 * Which DNS servers a sandbox uses, derived from the host's resolv.conf. Pure.
 */
import { isIPv4 } from "node:net";
import { type Ipv4Net, netContains, parseIpv4 } from "./addresses.ts";

export interface ResolvConf {
  nameservers: string[];
  search: string[];
  options: string[];
}

/** Reads the lines of a resolv.conf that matter to a sandbox (see resolv.conf(5)). */
export function parseResolvConf(text: string): ResolvConf {
  const rc: ResolvConf = { nameservers: [], search: [], options: [] };
  for (const raw of text.split("\n")) {
    const line = raw.replace(/[#;].*$/, "").trim();
    const [key, ...rest] = line.split(/\s+/);
    if (key === "nameserver" && rest[0]) rc.nameservers.push(rest[0].replace(/%.*$/, ""));
    // The last search or domain line wins, as in glibc.
    else if (key === "search" || key === "domain") rc.search = rest;
    else if (key === "options") rc.options.push(...rest);
  }
  return rc;
}

/** The text of a resolv.conf that uses `nameservers` with the host's search list and options. */
export function renderResolvConf(nameservers: readonly string[], host: ResolvConf): string {
  const lines = nameservers.map((n) => `nameserver ${n}`);
  if (host.search.length > 0) lines.push(`search ${host.search.join(" ")}`);
  if (host.options.length > 0) lines.push(`options ${host.options.join(" ")}`);
  return `${lines.join("\n")}\n`;
}

function isLoopback(address: string): boolean {
  return address === "::1" || (isIPv4(address) && address.startsWith("127."));
}

const LINK_LOCAL: Ipv4Net = { base: parseIpv4("169.254.0.0")!, bits: 16 };

/**
 * The host's resolvers a sandbox can reach directly (through NAT), or why there are none.
 *
 * A loopback resolver (systemd-resolved's 127.0.0.53) is replaced by the upstreams in
 * systemd's own resolv.conf when there is one. Sandboxes have no IPv6 and cannot reach
 * link-local addresses or any address of the host, so such resolvers are dropped.
 */
export function sandboxNameservers(input: {
  host: ResolvConf;
  systemd: ResolvConf | undefined;
  hostAddresses: ReadonlySet<string>;
}): { nameservers: string[] } | { unusable: string } {
  let candidates = input.host.nameservers;
  let source = "/etc/resolv.conf";
  if (candidates.some(isLoopback)) {
    if (!input.systemd)
      return {
        unusable: `the host's resolver ${candidates.find(isLoopback)} is a loopback address and /run/systemd/resolve/resolv.conf does not exist`,
      };
    candidates = input.systemd.nameservers;
    source = "/run/systemd/resolve/resolv.conf";
  }
  const usable: string[] = [];
  const dropped: string[] = [];
  for (const ns of candidates) {
    const n = parseIpv4(ns);
    if (n === undefined) dropped.push(`${ns} (not IPv4; sandboxes have no IPv6)`);
    else if (isLoopback(ns)) dropped.push(`${ns} (loopback)`);
    else if (netContains(LINK_LOCAL, n)) dropped.push(`${ns} (link-local)`);
    else if (input.hostAddresses.has(ns)) dropped.push(`${ns} (an address of the host)`);
    else usable.push(ns);
  }
  if (usable.length > 0) return { nameservers: usable.slice(0, 3) };
  return {
    unusable:
      dropped.length > 0
        ? `no resolver in ${source} is reachable from a sandbox: ${dropped.join(", ")}`
        : `${source} lists no nameserver`,
  };
}

/**
 * A sandbox's resolv.conf. Sandboxes with allowNet ask the daemon's forwarder at the
 * gateway. So do the others when no host resolver is within a sandbox's reach (`fallback`
 * says why): the daemon, on the host, can still ask those resolvers.
 */
export function sandboxResolvConf(input: {
  host: ResolvConf;
  systemd: ResolvConf | undefined;
  hostAddresses: ReadonlySet<string>;
  gateway: string;
  restricted: boolean;
}): { text: string; fallback?: string } {
  if (input.restricted) return { text: renderResolvConf([input.gateway], input.host) };
  const direct = sandboxNameservers(input);
  if ("nameservers" in direct) return { text: renderResolvConf(direct.nameservers, input.host) };
  return { text: renderResolvConf([input.gateway], input.host), fallback: direct.unusable };
}
