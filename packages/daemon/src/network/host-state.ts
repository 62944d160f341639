/**
 * Pure parsers of what `ip -j` and `nft -j` say about the host, for subnet choice and for
 * finding a daemon's leftovers after a restart.
 */
import { type Ipv4Net, networkOf, parseCidr } from "./addresses.ts";
import type { SandboxLink } from "./ruleset.ts";

/** The IPv4 addresses of each interface, from `ip -j -4 addr`. */
export function parseAddresses(json: string): { ifname: string; address: string; bits: number }[] {
  const out: { ifname: string; address: string; bits: number }[] = [];
  for (const link of JSON.parse(json || "[]") as {
    ifname?: string;
    addr_info?: { family?: string; local?: string; prefixlen?: number }[];
  }[]) {
    for (const a of link.addr_info ?? []) {
      if (a.family === "inet" && a.local && typeof a.prefixlen === "number" && link.ifname)
        out.push({ ifname: link.ifname, address: a.local, bits: a.prefixlen });
    }
  }
  return out;
}

/**
 * The IPv4 networks the host routes, from `ip -j -4 route show table all`, skipping
 * default routes (a sandbox subnet is more specific than those and does not clash).
 */
export function parseRoutes(json: string): Ipv4Net[] {
  const out: Ipv4Net[] = [];
  for (const r of JSON.parse(json || "[]") as { dst?: string }[]) {
    if (!r.dst || r.dst === "default") continue;
    const c = parseCidr(r.dst);
    if (c && c.bits > 0) out.push(networkOf(c.address, c.bits));
  }
  return out;
}

/** A daemon's per-sandbox nft state, from `nft -j list table inet <prefix>` and the ports set. */
export interface NftState {
  /** Sandbox ids that have an egress chain. */
  chains: string[];
  /** Egress map: sandbox address → the chain (sandbox id) it jumps to. */
  egress: Map<string, string>;
  /** Elements of the bridge table's `ports` set. */
  ports: Omit<SandboxLink, "id">[];
}

type NftObject = Record<string, Record<string, unknown>>;

/** Parses both listings; either may be empty (the table does not exist). */
export function parseNftState(inetJson: string, portsJson: string): NftState {
  const state: NftState = { chains: [], egress: new Map(), ports: [] };
  const items = (json: string) =>
    json.trim() ? ((JSON.parse(json) as { nftables?: NftObject[] }).nftables ?? []) : [];
  for (const o of items(inetJson)) {
    const chain = o.chain as { name?: string } | undefined;
    if (chain?.name && /^sbx_[0-9a-z]{20}$/.test(chain.name)) state.chains.push(chain.name);
    const map = o.map as { name?: string; elem?: unknown[] } | undefined;
    if (map?.name === "egress") {
      for (const e of map.elem ?? []) {
        const [key, verdict] = e as [unknown, { jump?: { target?: string } }];
        if (typeof key === "string" && verdict?.jump?.target)
          state.egress.set(key, verdict.jump.target);
      }
    }
  }
  for (const o of items(portsJson)) {
    const set = o.set as { name?: string; elem?: unknown[] } | undefined;
    if (set?.name !== "ports") continue;
    for (const e of set.elem ?? []) {
      const c = (e as { concat?: unknown[] }).concat;
      if (c && c.length === 3 && c.every((x) => typeof x === "string")) {
        const [veth, mac, address] = c as string[];
        state.ports.push({ veth: veth!, mac: mac!, address: address! });
      }
    }
  }
  return state;
}

/**
 * The nft elements no live sandbox owns (left by an attach that crashed between its ip and
 * nft steps, or a detach that half-failed): bridge port bindings and egress map keys.
 */
export function strayElements(
  state: NftState,
  live: readonly { link: SandboxLink; mapped: readonly string[] }[],
): { ports: SandboxLink[]; egress: string[] } {
  const ports = new Set(live.map((s) => `${s.link.veth}|${s.link.mac}|${s.link.address}`));
  const egress = new Map(live.flatMap((s) => s.mapped.map((a) => [a, s.link.id] as const)));
  return {
    ports: state.ports
      .filter((p) => !ports.has(`${p.veth}|${p.mac}|${p.address}`))
      .map((p) => ({ ...p, id: "" })),
    egress: [...state.egress].filter(([a, chain]) => egress.get(a) !== chain).map(([a]) => a),
  };
}
