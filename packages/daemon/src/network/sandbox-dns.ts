/**
 * Names for sandboxes: the DNS forwarder on the gateway and the upstreams it asks, each
 * sandbox's resolv.conf, the allowNet host names resolved at attach time, and what the
 * forwarder may answer a sandbox (and the egress a restricted one learns from answers).
 */
import {
  type AllowRule,
  type EgressTargets,
  egressTargets,
  hostsToResolve,
  learnTargets,
  matchName,
} from "./allow-net.ts";
import { type DnsDecision, DnsForwarder, parseUpstream, type Upstream } from "./dns-forwarder.ts";
import { lookupIpv4, readHostResolvConf, resolveAll } from "./host-io.ts";
import { NftQueue } from "./nft-queue.ts";
import { sandboxResolvConf } from "./resolv-conf.ts";
import { learnRules } from "./ruleset.ts";
import type { SandboxNets } from "./sandbox-nets.ts";
import type { NetworkLogger } from "./types.ts";

const LOOKUP_TIMEOUT_MS = 2000;

export interface SandboxDnsOptions {
  prefix: string;
  /** The bridge's address: the forwarder listens there. */
  gateway: string;
  /** The host's own addresses (a resolver on one of them is unreachable from a sandbox). */
  hostAddresses: Set<string>;
  /** The networks whose clients the forwarder serves, found by source address. */
  nets: SandboxNets;
  log: NetworkLogger;
  /** See `NetworkManagerOptions.lookup`. */
  lookup?: ((host: string) => Promise<string[]>) | undefined;
  /** See `NetworkManagerOptions.dnsUpstreams`. */
  dnsUpstreams?: readonly string[] | undefined;
}

export class SandboxDns {
  readonly #o: SandboxDnsOptions;
  readonly #lookup: (host: string) => Promise<string[]>;
  readonly #fixedUpstreams: boolean;
  #upstreams: Upstream[];
  #forwarder: DnsForwarder | undefined;
  #learnQueue = new NftQueue();
  #resolvWarning: string | undefined;

  private constructor(options: SandboxDnsOptions) {
    this.#o = options;
    this.#lookup = options.lookup ?? lookupIpv4;
    this.#fixedUpstreams = options.dnsUpstreams !== undefined;
    this.#upstreams = (options.dnsUpstreams ?? []).map(parseUpstream);
  }

  /** Starts the forwarder on the gateway's address (an ephemeral UDP port). */
  static async start(options: SandboxDnsOptions): Promise<SandboxDns> {
    const dns = new SandboxDns(options);
    dns.#forwarder = await DnsForwarder.start({
      address: options.gateway,
      upstreams: () => dns.#upstreams,
      decide: (client, name) => dns.#decide(client, name),
      log: options.log,
    });
    return dns;
  }

  /** The forwarder's UDP port, which nft redirects the sandboxes' gateway:53 to. */
  get port(): number {
    return this.#forwarder!.port;
  }

  /** A sandbox's resolv.conf (see `sandboxResolvConf`); refreshes the forwarder's upstreams. */
  async resolvConf(restricted: boolean): Promise<string> {
    const { host, systemd } = await readHostResolvConf();
    if (!this.#fixedUpstreams)
      this.#upstreams = (host.nameservers.length > 0 ? host.nameservers : ["127.0.0.1"]).map(
        parseUpstream,
      );
    const rc = sandboxResolvConf({
      host,
      systemd,
      hostAddresses: this.#o.hostAddresses,
      gateway: this.#o.gateway,
      restricted,
    });
    if (rc.fallback !== undefined && rc.fallback !== this.#resolvWarning)
      this.#o.log.warn(
        { reason: rc.fallback },
        "Sandboxes resolve names through the daemon's DNS forwarder",
      );
    this.#resolvWarning = rc.fallback ?? this.#resolvWarning;
    return rc.text;
  }

  /** The static egress targets of a policy, its host names resolved now. */
  async egress(rules: readonly AllowRule[] | undefined): Promise<EgressTargets | undefined> {
    if (!rules) return undefined;
    const resolved = await resolveAll(hostsToResolve(rules), {
      lookup: this.#lookup,
      timeoutMs: LOOKUP_TIMEOUT_MS,
      onError: (host, err) =>
        this.#o.log.warn(
          { err, host },
          "An allowNet host name did not resolve; the DNS forwarder allows it once it does",
        ),
    });
    return egressTargets(rules, resolved);
  }

  async close(): Promise<void> {
    await this.#forwarder?.close();
  }

  #decide(client: string, name: string): DnsDecision {
    const s = this.#o.nets.atAddress(client);
    if (!s) return { forward: false };
    if (!s.rules) return { forward: true };
    const m = matchName(s.rules, name);
    if (!m) return { forward: false };
    return {
      forward: true,
      learn: async (records) => {
        const now = Date.now();
        for (const [key, until] of s.learned) if (until <= now) s.learned.delete(key);
        const targets = learnTargets({ ports: m.ports, records, learned: s.learned, now });
        if (targets.length === 0) return;
        await this.#learnQueue.run(learnRules(this.#o.prefix, s.id, targets));
        for (const t of targets) s.learned.set(t.key, now + t.timeoutS * 1000);
      },
    };
  }
}
