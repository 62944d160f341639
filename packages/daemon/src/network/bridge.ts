import { run } from "../lib/exec.ts";
import {
  AddressPool,
  bridgeName,
  chooseSubnet,
  formatNet,
  type Ipv4Net,
  macOf,
  networkOf,
  parseIpv4,
  validateSubnet,
} from "./addresses.ts";
import { exists, readHostResolvConf } from "./host-io.ts";
import { parseAddresses, parseRoutes } from "./host-state.ts";
import { bridgeBatch } from "./ruleset.ts";

/** What the manager learns about the host while it sets up the bridge. */
export interface BridgeSetup {
  subnet: Ipv4Net;
  /** Whether this call created the bridge (so undoing it is this caller's business). */
  created: boolean;
  /** Every IPv4 address of the host, the gateway included. */
  hostAddresses: Set<string>;
  /** Whether the kernel has IPv6 at all (no `ipv6.disable=1`). */
  ipv6: boolean;
}

/**
 * Finds the daemon's bridge or creates it. An existing bridge keeps its subnet (its
 * sandboxes may still run); a new one gets the explicit subnet or one chosen from the
 * prefix, clear of every host route, address and resolver.
 */
export async function ensureBridge(prefix: string, subnetOption?: string): Promise<BridgeSetup> {
  const bridge = bridgeName(prefix);
  const [addrOut, routeOut, ipv6, bridgeExists, resolv] = await Promise.all([
    run(["ip", "-j", "-4", "addr"]),
    run(["ip", "-j", "-4", "route", "show", "table", "all"]),
    exists("/proc/sys/net/ipv6"),
    exists(`/sys/class/net/${bridge}`),
    readHostResolvConf(),
  ]);
  const addresses = parseAddresses(addrOut.stdout);
  const hostAddresses = new Set(addresses.map((a) => a.address));
  const own = addresses.find((a) => a.ifname === bridge);
  if (bridgeExists && own) {
    const subnet = networkOf(parseIpv4(own.address)!, own.bits);
    if (subnetOption !== undefined && subnetOption !== formatNet(subnet))
      throw new Error(
        `Cannot use subnet ${JSON.stringify(subnetOption)}: bridge ${bridge} exists with ${formatNet(subnet)}; stop its sandboxes and delete it first`,
      );
    return { subnet, created: false, hostAddresses, ipv6 };
  }
  // A bridge without an address is a creation that crashed half-way: it has no ports.
  if (bridgeExists) await run(["ip", "link", "del", bridge]);
  const taken = [
    ...parseRoutes(routeOut.stdout),
    ...[...hostAddresses, ...resolv.host.nameservers].flatMap((a) => {
      const n = parseIpv4(a);
      return n === undefined ? [] : [{ base: n, bits: 32 }];
    }),
  ];
  const subnet =
    subnetOption !== undefined ? validateSubnet(subnetOption, taken) : chooseSubnet(prefix, taken);
  const gateway = new AddressPool(subnet).gateway;
  await run(["ip", "-batch", "-"], {
    input: bridgeBatch({ bridge, mac: macOf(gateway), gateway, bits: subnet.bits }),
  });
  hostAddresses.add(gateway);
  return { subnet, created: true, hostAddresses, ipv6 };
}

/** Deletes the bridge if it exists (its ports go with it). */
export async function removeBridge(prefix: string): Promise<void> {
  const bridge = bridgeName(prefix);
  if (await exists(`/sys/class/net/${bridge}`)) await run(["ip", "link", "del", bridge]);
}
