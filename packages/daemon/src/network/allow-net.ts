/**
 * The `allowNet` option of a sandbox: which destinations its egress may reach.
 *
 * - absent: everything outside (the host, other sandboxes and link-local stay blocked);
 * - `[]`: nothing at all, not even DNS answers;
 * - otherwise only the listed destinations. Entries:
 *
 * | Entry                | Allows                                                  |
 * |----------------------|---------------------------------------------------------|
 * | `example.com`        | the addresses the name resolves to, any port and protocol |
 * | `example.com:443`    | the same, TCP and UDP port 443 only                     |
 * | `*.example.com`      | every subdomain of example.com (not example.com itself)  |
 * | `*.example.com:443`  | the same, port 443 only                                 |
 * | `203.0.113.7`        | that address                                            |
 * | `203.0.113.0/24`     | that network                                            |
 * | `203.0.113.7:8080`   | that address, port 8080 (a CIDR with a port works too)   |
 *
 * IPv6 entries (`[2001:db8::1]`, `[2001:db8::1]:443`) are refused: sandboxes have no IPv6.
 *
 * @example
 * ```ts
 * parseAllowNet(["mirror.example.org", "*.example.net:443", "203.0.113.0/24"]);
 * // → [{ kind: "host", host: "mirror.example.org", … }, { kind: "domain", domain: "example.net", port: 443, … }, …]
 * parseAllowNet(["example.com:99999"]);
 * // throws StrataError invalid_request: Invalid allowNet entry "example.com:99999": the port must be 1 to 65535
 * ```
 */
import { isIPv6 } from "node:net";
import { StrataError } from "../errors.ts";
import {
  formatNet,
  type Ipv4Net,
  netCovers,
  networkOf,
  parseCidr,
  parseIpv4,
} from "./addresses.ts";

/** One parsed entry. `entry` is the text it came from, for messages. */
export type AllowRule =
  | { kind: "net"; net: Ipv4Net; port?: number; entry: string }
  | { kind: "host"; host: string; port?: number; entry: string }
  | { kind: "domain"; domain: string; port?: number; entry: string };

/** At most this many entries: each becomes set elements and is matched per DNS query. */
export const MAX_ALLOW_NET = 256;

/** Destinations no entry can open: they are blocked for every sandbox before allowNet applies. */
const NEVER: readonly [string, string][] = [
  ["0.0.0.0/8", "it is not a destination"],
  ["127.0.0.0/8", "loopback addresses are never reachable from a sandbox"],
  ["169.254.0.0/16", "link-local addresses are never reachable from a sandbox"],
  ["224.0.0.0/4", "multicast is not supported"],
];

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

/**
 * Parses and validates allowNet entries. Throws a `StrataError` with code
 * `invalid_request` naming the first bad entry, with one detail per bad entry.
 */
export function parseAllowNet(entries: readonly string[]): AllowRule[] {
  if (entries.length > MAX_ALLOW_NET)
    throw new StrataError(
      "invalid_allow_net",
      `Invalid allowNet: it has ${entries.length} entries, at most ${MAX_ALLOW_NET} are allowed`,
    );
  const rules: AllowRule[] = [];
  const seen = new Set<string>();
  const problems: { path: string; message: string }[] = [];
  entries.forEach((entry, i) => {
    const r = parseEntry(entry);
    if (typeof r === "string") {
      problems.push({
        path: `allowNet[${i}]`,
        message: `Invalid allowNet entry ${JSON.stringify(entry)}: ${r}`,
      });
      return;
    }
    const key = `${r.kind}|${r.kind === "net" ? formatNet(r.net) : r.kind === "host" ? r.host : r.domain}|${r.port ?? ""}`;
    if (!seen.has(key)) {
      seen.add(key);
      rules.push(r);
    }
  });
  if (problems.length > 0) {
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more bad entries)` : "";
    throw new StrataError("invalid_allow_net", `${problems[0]!.message}${more}`, {
      details: problems,
    });
  }
  return rules;
}

/** One entry, or why it is wrong. */
function parseEntry(entry: string): AllowRule | string {
  if (entry === "") return "it is empty";
  if (/[\s\p{Cc}]/u.test(entry)) return "it contains whitespace or control characters";
  if (entry.startsWith("[")) {
    const m = /^\[([^\]]*)\](?::([^:]*))?$/.exec(entry);
    if (!m || !isIPv6(m[1]!)) return "expected [IPv6] or [IPv6]:port";
    return "IPv6 destinations are not supported: sandboxes have no IPv6 connectivity";
  }
  if (isIPv6(entry))
    return "IPv6 destinations are not supported: sandboxes have no IPv6 connectivity";
  let host = entry;
  let port: number | undefined;
  const colon = entry.lastIndexOf(":");
  if (colon >= 0) {
    if (entry.indexOf(":") !== colon) return "expected host, host:port, IPv4, CIDR or ip:port";
    host = entry.slice(0, colon);
    const p = entry.slice(colon + 1);
    if (!/^[0-9]{1,5}$/.test(p) || Number(p) < 1 || Number(p) > 65535)
      return `the port must be 1 to 65535${/-/.test(p) ? " (port ranges are not supported)" : ""}`;
    port = Number(p);
  }
  if (host === "") return "the host is empty";
  const withPort = <T extends AllowRule>(r: T): T => (port === undefined ? r : { ...r, port });
  if (/^[0-9./]+$/.test(host)) {
    const c = parseCidr(host);
    if (!c) return "not a valid IPv4 address or CIDR";
    const net = networkOf(c.address, c.bits);
    if (net.base !== c.address)
      return `host bits are set; did you mean ${JSON.stringify(formatNet(net))}?`;
    for (const [range, why] of NEVER) {
      const r = parseCidr(range)!;
      if (netCovers({ base: r.address, bits: r.bits }, net)) return why;
    }
    return withPort({ kind: "net", net, entry });
  }
  const name = host.toLowerCase().replace(/\.$/, "");
  const wildcard = name.startsWith("*.");
  const bare = wildcard ? name.slice(2) : name;
  if (bare.includes("*")) return "a wildcard must be the whole first label, as in *.example.com";
  const why = hostnameProblem(bare);
  if (why) return why;
  return wildcard
    ? withPort({ kind: "domain", domain: bare, entry })
    : withPort({ kind: "host", host: bare, entry });
}

function hostnameProblem(name: string): string | undefined {
  if (name.length > 253) return "the host name is longer than 253 characters";
  const labels = name.split(".");
  for (const l of labels) {
    if (l === "") return "the host name has an empty label";
    if (!LABEL.test(l)) return `the host name label ${JSON.stringify(l)} is not valid`;
  }
  if (/^[0-9]+$/.test(labels.at(-1)!)) return "not a valid host name or IPv4 address";
  return undefined;
}

/**
 * Which rules let a sandbox resolve `name` (lower case, no trailing dot), and on which
 * ports the answers may then be reached: `"any"` when some matching rule has no port.
 * `undefined` means the name is not allowed.
 */
export function matchName(
  rules: readonly AllowRule[],
  name: string,
): { ports: "any" | number[] } | undefined {
  const ports = new Set<number>();
  let matched = false;
  for (const r of rules) {
    const hit =
      (r.kind === "host" && r.host === name) ||
      (r.kind === "domain" && name.endsWith(`.${r.domain}`));
    if (!hit) continue;
    if (r.port === undefined) return { ports: "any" };
    matched = true;
    ports.add(r.port);
  }
  return matched ? { ports: [...ports].sort((a, b) => a - b) } : undefined;
}

/** The static part of a policy: networks reachable on any port, and network/port pairs. */
export interface EgressTargets {
  nets: Ipv4Net[];
  services: { net: Ipv4Net; port: number }[];
}

/**
 * The static targets of a policy: IP and CIDR rules plus the addresses host names resolved
 * to at attach time. Targets covered by a wider one are dropped, because nft interval
 * sets refuse overlapping elements.
 */
export function egressTargets(
  rules: readonly AllowRule[],
  resolved: ReadonlyMap<string, readonly string[]>,
): EgressTargets {
  const nets: Ipv4Net[] = [];
  const services: { net: Ipv4Net; port: number }[] = [];
  for (const r of rules) {
    const targets =
      r.kind === "net"
        ? [r.net]
        : r.kind === "host"
          ? (resolved.get(r.host) ?? []).flatMap((a) => {
              const n = parseIpv4(a);
              return n === undefined ? [] : [{ base: n, bits: 32 }];
            })
          : [];
    for (const net of targets) {
      if (r.port === undefined) nets.push(net);
      else services.push({ net, port: r.port });
    }
  }
  const widestFirst = (a: Ipv4Net, b: Ipv4Net) => a.bits - b.bits || a.base - b.base;
  const keptNets: Ipv4Net[] = [];
  for (const n of nets.sort(widestFirst))
    if (!keptNets.some((k) => netCovers(k, n))) keptNets.push(n);
  const keptServices: { net: Ipv4Net; port: number }[] = [];
  for (const s of services.sort((a, b) => a.port - b.port || widestFirst(a.net, b.net))) {
    if (keptNets.some((k) => netCovers(k, s.net))) continue;
    if (keptServices.some((k) => k.port === s.port && netCovers(k.net, s.net))) continue;
    keptServices.push(s);
  }
  return { nets: keptNets, services: keptServices };
}

/** The host names whose addresses should be resolved at attach time. */
export function hostsToResolve(rules: readonly AllowRule[]): string[] {
  return [...new Set(rules.flatMap((r) => (r.kind === "host" ? [r.host] : [])))];
}

/**
 * The set elements a DNS answer adds for a sandbox: each A record, on any port or on the
 * matching rules' ports, kept a little longer than the client may cache it (at least a
 * minute, at most a day). Targets whose element already outlives that are skipped.
 */
export function learnTargets(input: {
  ports: "any" | readonly number[];
  records: readonly { address: string; ttl: number }[];
  /** Key ("ip" or "ip:port") → when its element expires (ms). */
  learned: ReadonlyMap<string, number>;
  now: number;
}): { key: string; address: string; port?: number; timeoutS: number }[] {
  const out: { key: string; address: string; port?: number; timeoutS: number }[] = [];
  for (const r of input.records) {
    const timeoutS = Math.min(Math.max(r.ttl, 60), 86400) + 30;
    for (const port of input.ports === "any" ? [undefined] : input.ports) {
      const key = port === undefined ? r.address : `${r.address}:${port}`;
      if ((input.learned.get(key) ?? 0) - input.now >= (Math.min(r.ttl, 86400) + 30) * 1000)
        continue;
      out.push(
        port === undefined
          ? { key, address: r.address, timeoutS }
          : { key, address: r.address, port, timeoutS },
      );
    }
  }
  return out;
}
