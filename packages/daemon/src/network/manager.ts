import { run } from "../lib/exec.ts";
import {
  AddressPool,
  bridgeName,
  formatNet,
  macOf,
  netnsName,
  PREFIX_RE,
  poolToken,
  SANDBOX_ID_RE,
  vethName,
} from "./addresses.ts";
import {
  type AllowRule,
  type EgressTargets,
  egressTargets,
  hostsToResolve,
  learnTargets,
  matchName,
  parseAllowNet,
} from "./allow-net.ts";
import { type BridgeSetup, ensureBridge, removeBridge } from "./bridge.ts";
import { type DnsDecision, DnsForwarder, parseUpstream, type Upstream } from "./dns-forwarder.ts";
import {
  enableIpv4Forwarding,
  exists,
  lookupIpv4,
  observePrefix,
  readHostResolvConf,
  resolveAll,
} from "./host-io.ts";
import { strayElements } from "./host-state.ts";
import { NftQueue, nft } from "./nft-queue.ts";
import { sandboxResolvConf } from "./resolv-conf.ts";
import * as rs from "./ruleset.ts";
import type { Attachment, AttachOptions, NetworkLogger, NetworkManagerOptions } from "./types.ts";

interface Sandbox {
  id: string;
  /**
   * Names its netns and labels its veth: the sandbox id, or for a network taken from the
   * warm pool the pool token it was made under (`sbx_pool…`).
   */
  hostId: string;
  /** A warm network not handed out yet. */
  spare?: boolean;
  /** Address index; unknown for leftovers without a veth. */
  index: number | undefined;
  /** allowNet rules; `undefined` means unrestricted. */
  rules: AllowRule[] | undefined;
  /** Addresses the nft `egress` map sends to its chain (its own, when restricted). */
  mapped: string[];
  /** Learned DNS targets ("ip" or "ip:port") → expiry of their nft element (ms). */
  learned: Map<string, number>;
}

const LOOKUP_TIMEOUT_MS = 2000;

/**
 * Gives each sandbox its own network namespace on the daemon's bridge, with NAT to the
 * outside and nothing else: sandboxes never reach the host's addresses (the API, the
 * gateway), each other (L2 or L3), link-local addresses, or IPv6. Connections the host
 * opens to a sandbox (the reverse proxy) work, replies included. `allowNet` narrows egress.
 *
 * Host objects are named from the prefix, so daemons with different prefixes never touch
 * each other's: bridge `<prefix>0`, nft tables `inet <prefix>` and `bridge <prefix>`, host
 * veths `<prefix>-<hex index>`, netns `<prefix>-<the 20 characters of the sandbox id>`.
 * Calls for one sandbox must not overlap (the service's per-sandbox lock sees to that).
 *
 * @example
 * ```ts
 * const net = await NetworkManager.open({ prefix: "strata", log });
 * await net.reconcile(liveSandboxIds);        // at start: drop what no sandbox owns
 * const a = await net.attach("sbx_0123456789abcdefghjk", { allowNet: ["mirror.example.org:80"] });
 * // OCI config: { type: "network", path: a.netnsPath }; a.resolvConf → /etc/resolv.conf
 * await net.detach("sbx_0123456789abcdefghjk");
 * await net.close();                          // at shutdown, once every sandbox is gone
 * ```
 */
export class NetworkManager {
  readonly prefix: string;
  readonly bridge: string;
  #pool: AddressPool;
  #log: NetworkLogger;
  #lookup: (host: string) => Promise<string[]>;
  #ipv6: boolean;
  #hostAddresses: Set<string>;
  #upstreams: Upstream[];
  #fixedUpstreams: boolean;
  #forwarder: DnsForwarder | undefined;
  #learnQueue = new NftQueue();
  #byId = new Map<string, Sandbox>();
  #warm: number;
  #spares: Sandbox[] = [];
  #filling: Promise<void> | undefined;
  #byAddress = new Map<string, Sandbox>();
  #closed = false;
  #resolvWarning: string | undefined;

  private constructor(options: NetworkManagerOptions, host: BridgeSetup) {
    this.prefix = options.prefix;
    this.bridge = bridgeName(this.prefix);
    this.#pool = new AddressPool(host.subnet);
    this.#log = options.log;
    this.#lookup = options.lookup ?? lookupIpv4;
    this.#ipv6 = host.ipv6;
    this.#hostAddresses = host.hostAddresses;
    this.#fixedUpstreams = options.dnsUpstreams !== undefined;
    this.#upstreams = (options.dnsUpstreams ?? []).map(parseUpstream);
    this.#warm = options.warm ?? 0;
  }

  /** The sandbox subnet, as CIDR. */
  get subnet(): string {
    return formatNet(this.#pool.subnet);
  }

  /** The bridge's address: every sandbox's gateway. */
  get gateway(): string {
    return this.#pool.gateway;
  }

  /**
   * Sets up the daemon's network: the bridge with the gateway address (created when
   * missing; reused, subnet included, when a previous run left it), IPv4 forwarding, the
   * DNS forwarder and the nft tables (loaded idempotently: per-sandbox state survives), then
   * takes note of the sandboxes a previous run left (see `reconcile` and `adopt`).
   */
  static async open(options: NetworkManagerOptions): Promise<NetworkManager> {
    const { prefix, log } = options;
    if (!PREFIX_RE.test(prefix))
      throw new Error(
        `Invalid network prefix ${JSON.stringify(prefix)}: 2–8 lowercase letters and digits, starting with a letter`,
      );
    await using stack = new AsyncDisposableStack();
    const setup = await ensureBridge(prefix, options.subnet);
    if (setup.created) {
      stack.defer(() => removeBridge(prefix));
      log.info(
        { bridge: bridgeName(prefix), subnet: formatNet(setup.subnet) },
        "Created the sandbox bridge",
      );
    }
    const m = new NetworkManager(options, setup);
    if (await enableIpv4Forwarding())
      log.info(
        { sysctl: "net.ipv4.ip_forward=1" },
        "Enabled IPv4 forwarding so that sandboxes reach the outside through NAT",
      );
    m.#forwarder = await DnsForwarder.start({
      address: m.gateway,
      upstreams: () => m.#upstreams,
      decide: (client, name) => m.#decide(client, name),
      log,
    });
    stack.defer(() => m.#forwarder?.close());
    await m.#resolvConf(false);
    const base = { prefix, bridge: m.bridge, subnet: m.subnet, gateway: m.gateway };
    await nft(rs.baseRuleset({ ...base, dnsPort: m.#forwarder.port }));
    await m.#recover();
    stack.move();
    m.#refill();
    return m;
  }

  /**
   * Creates a sandbox's netns, veth pair and rules: `ip -batch` for the host side, then
   * `ip -n <netns> -batch` inside, with one `nft -f` in parallel. Host names in `allowNet`
   * are resolved on the host first; one that does not resolve is logged and left to the DNS
   * forwarder. Throws `StrataError` `invalid_request` naming a bad allowNet entry; on any
   * failure nothing is left behind.
   */
  async attach(sandboxId: string, options: AttachOptions = {}): Promise<Attachment> {
    this.#assertOpen();
    if (!SANDBOX_ID_RE.test(sandboxId))
      throw new Error(
        `Invalid sandbox id ${JSON.stringify(sandboxId)}: expected sbx_ and 20 of [0-9a-z]`,
      );
    if (this.#byId.has(sandboxId))
      throw new Error(`Cannot attach the network of sandbox ${sandboxId}: it is already attached`);
    const rules = options.allowNet === undefined ? undefined : parseAllowNet(options.allowNet);
    const spare = this.#spares.shift();
    this.#refill();
    if (spare) return this.#handOut(spare, sandboxId, rules);
    const s: Sandbox = {
      id: sandboxId,
      hostId: sandboxId,
      index: this.#pool.allocate(),
      rules,
      mapped: [],
      learned: new Map(),
    };
    this.#track(s);
    const [resolvConf, ...steps] = await Promise.allSettled([
      this.#resolvConf(rules !== undefined),
      this.#links(s),
      this.#rules(s),
    ]);
    const failed = steps.find((r) => r.status === "rejected");
    if (failed || resolvConf.status === "rejected") {
      await this.#teardown(s).catch((err) =>
        this.#log.error({ err, sandboxId }, "Could not undo a failed network attach"),
      );
      throw resolvConf.status === "rejected" ? resolvConf.reason : failed?.reason;
    }
    return this.#attachment(s, resolvConf.value);
  }

  /** Creates the netns and veth pair of `s` (named and labelled by its hostId). */
  async #links(s: Sandbox): Promise<void> {
    const link = this.#link(s.id, s.index!);
    const netns = netnsName(this.prefix, s.hostId);
    const l = { netns, bridge: this.bridge, veth: link.veth, mac: link.mac, sandboxId: s.hostId };
    await run(["ip", "-batch", "-"], { input: rs.hostLinkBatch(l) });
    const inside = { address: link.address, gateway: this.gateway, ipv6: this.#ipv6 };
    await run(["ip", "-n", netns, "-batch", "-"], { input: rs.netnsBatch(inside) });
  }

  /** Adds the bridge port binding of `s` and, with allowNet, its egress chain and sets. */
  async #rules(s: Sandbox): Promise<void> {
    const link = this.#link(s.id, s.index!);
    const egress = await this.#egress(s.rules);
    await nft(rs.attachRules(this.prefix, link, egress));
    if (egress) s.mapped = [link.address];
  }

  /**
   * Gives a warm network to a sandbox: it already has its netns, veth, address and bridge
   * port; only an allowNet policy needs rules now. Its netns keeps the pool token's name.
   */
  async #handOut(
    spare: Sandbox,
    sandboxId: string,
    rules: AllowRule[] | undefined,
  ): Promise<Attachment> {
    this.#byId.delete(spare.hostId);
    const s: Sandbox = { ...spare, id: sandboxId, spare: false, rules };
    this.#track(s);
    try {
      const [resolvConf] = await Promise.all([
        this.#resolvConf(rules !== undefined),
        rules ? this.#rules(s) : undefined,
      ]);
      return this.#attachment(s, resolvConf);
    } catch (err) {
      await this.#teardown(s).catch((e) =>
        this.#log.error({ err: e, sandboxId }, "Could not undo a failed network attach"),
      );
      throw err;
    }
  }

  /**
   * Keeps `warm` spare networks ready in the background (one made at a time), so that an
   * attach costs no exec. A failure is logged and the pool stays short until the next attach.
   */
  #refill(): void {
    if (this.#closed || this.#filling || this.#spares.length >= this.#warm) return;
    this.#filling = (async () => {
      while (!this.#closed && this.#spares.length < this.#warm) {
        const token = poolToken();
        const s: Sandbox = {
          id: token,
          hostId: token,
          spare: true,
          index: this.#pool.allocate(),
          rules: undefined,
          mapped: [],
          learned: new Map(),
        };
        this.#track(s);
        try {
          await Promise.all([this.#links(s), this.#rules(s)]);
        } catch (err) {
          await this.#teardown(s).catch(() => {});
          this.#log.warn({ err }, "Could not make a warm sandbox network");
          return;
        }
        if (this.#closed) return;
        // Only a network still tracked is whole (nothing tore it down meanwhile).
        if (this.#byId.get(token) === s) this.#spares.push(s);
      }
    })().finally(() => {
      this.#filling = undefined;
    });
  }

  /**
   * Takes over a sandbox whose network a previous daemon run made (`open` finds it):
   * re-applies its allowNet, rebuilding its rules in one transaction, and returns its
   * attachment. Until then, a restricted sandbox found at `open` resolves no names.
   */
  async adopt(sandboxId: string, options: AttachOptions = {}): Promise<Attachment> {
    this.#assertOpen();
    const s = this.#byId.get(sandboxId);
    if (s?.index === undefined)
      throw new Error(`Cannot adopt the network of sandbox ${sandboxId}: it has none on this host`);
    const rules = options.allowNet === undefined ? undefined : parseAllowNet(options.allowNet);
    const link = this.#link(s.id, s.index);
    const egress = await this.#egress(rules);
    await nft(
      rs.detachRules(this.prefix, { ...s, port: link, egress: true }) +
        rs.attachRules(this.prefix, link, egress),
    );
    Object.assign(s, { rules, mapped: egress ? [link.address] : [], learned: new Map() });
    return this.#attachment(s, await this.#resolvConf(rules !== undefined));
  }

  /** Removes a sandbox's netns, veth and rules, and frees its address. Idempotent. */
  async detach(sandboxId: string): Promise<void> {
    await this.#teardown(this.#byId.get(sandboxId) ?? leftover(sandboxId));
  }

  /**
   * Removes every trace of this daemon's sandboxes that are not in `liveSandboxIds` —
   * netns, veths, nft chains, sets and elements — and the debris of interrupted attaches.
   * Returns the ids of the sandboxes it removed.
   */
  async reconcile(liveSandboxIds: Iterable<string>): Promise<string[]> {
    this.#assertOpen();
    const keep = new Set(liveSandboxIds);
    const seen = await observePrefix(this.prefix);
    // Decided after the observation, with no await in between: warm networks are made in
    // the background (tracked before their first exec), and those are kept too, as are
    // the netns and veths of live sandboxes, named by their hostId.
    for (const s of this.#byId.values())
      if (s.spare || keep.has(s.id)) keep.add(s.hostId).add(s.id);
    // A warm network handed out is named by its pool token: count it as its sandbox.
    const byHost = new Map([...this.#byId.values()].map((s) => [s.hostId, s.id]));
    const asId = (x: string) => byHost.get(x) ?? x;
    const owners = [...seen.veths.values()].filter((id): id is string => id !== undefined);
    const ids = new Set([
      ...this.#byId.keys(),
      ...seen.netns.map(asId),
      ...seen.nft.chains,
      ...owners.map(asId),
    ]);
    const removed = [...ids].filter((id) => !keep.has(id)).sort();
    for (const id of removed) {
      const index = [...seen.veths].find(([, owner]) => owner === id)?.[0];
      const known = this.#byId.get(id) ?? { ...leftover(id), index };
      // Whatever nft holds for it: a chain an element still jumps to cannot be deleted.
      const mapped = [...seen.nft.egress].filter(([, chain]) => chain === id).map(([a]) => a);
      const rules = known.rules ?? (seen.nft.chains.includes(id) ? [] : undefined);
      await this.#teardown({ ...known, rules, mapped: [...new Set([...known.mapped, ...mapped])] });
    }
    for (const [index, owner] of seen.veths) {
      const veth = vethName(this.prefix, index);
      // A veth whose address a tracked sandbox holds is its own, even without its label yet
      // (a warm network being made: `ip` labels the veth after creating it).
      const tracked = [...this.#byId.values()].some(
        (s) => s.index === index || (owner !== undefined && s.hostId === owner),
      );
      if (!tracked && (await exists(`/sys/class/net/${veth}`)))
        await run(["ip", "link", "del", veth]);
    }
    const { nft: after } = await observePrefix(this.prefix);
    const live = [...this.#byId.values()].flatMap((s) =>
      s.index === undefined ? [] : [{ link: this.#link(s.id, s.index), mapped: s.mapped }],
    );
    const text = rs.removeElements(this.prefix, strayElements(after, live));
    if (text) await nft(text);
    if (removed.length > 0)
      this.#log.info({ removed }, "Removed the network state of dead sandboxes");
    return removed;
  }

  /** Resolves once the warm pool is refilled (or its refill failed). */
  async settle(): Promise<void> {
    await this.#filling;
  }

  /** Removes the bridge, the nft tables and the DNS forwarder. Call once every sandbox is gone. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#filling;
    for (const s of this.#spares.splice(0)) await this.#teardown(s).catch(() => {});
    for (const s of [...this.#byId.values()].filter((x) => x.spare))
      await this.#teardown(s).catch(() => {});
    for (const s of [...this.#byId.values()]) {
      this.#log.warn(
        { sandboxId: s.id },
        "Removing the network of a sandbox still attached at close",
      );
      await this.#teardown(s).catch((err) =>
        this.#log.error({ err, sandboxId: s.id }, "Could not detach"),
      );
    }
    await this.#forwarder?.close();
    await removeBridge(this.prefix);
    await nft(rs.removeRuleset(this.prefix));
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error(`The network of prefix ${this.prefix} is closed`);
  }

  #track(s: Sandbox): void {
    this.#byId.set(s.id, s);
    if (s.index !== undefined) this.#byAddress.set(this.#pool.address(s.index), s);
  }

  #link(id: string, index: number): rs.SandboxLink {
    const address = this.#pool.address(index);
    return { id, veth: vethName(this.prefix, index), mac: macOf(address), address };
  }

  #attachment(s: Sandbox, resolvConf: string): Attachment {
    const netns = netnsName(this.prefix, s.hostId);
    const address = this.#pool.address(s.index!);
    return { netns, netnsPath: `/run/netns/${netns}`, address, gateway: this.gateway, resolvConf };
  }

  async #teardown(s: Sandbox): Promise<void> {
    const netns = netnsName(this.prefix, s.hostId);
    const link = s.index === undefined ? undefined : this.#link(s.id, s.index);
    const [hasNetns, hasVeth] = await Promise.all([
      exists(`/run/netns/${netns}`),
      link ? exists(`/sys/class/net/${link.veth}`) : false,
    ]);
    const batch = rs.detachLinkBatch({
      veth: hasVeth ? link?.veth : undefined,
      netns: hasNetns ? netns : undefined,
    });
    const detach = { id: s.id, port: link, mapped: s.mapped, egress: s.rules !== undefined };
    const results = await Promise.allSettled([
      batch && run(["ip", "-batch", "-"], { input: batch }),
      nft(rs.detachRules(this.prefix, detach)),
    ]);
    const failed = results.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
    this.#byId.delete(s.id);
    if (link && this.#byAddress.get(link.address)?.id === s.id) {
      this.#byAddress.delete(link.address);
      this.#pool.release(s.index!);
    }
  }

  /** Takes note of the sandboxes a previous run left: a labelled veth gives back the address. */
  async #recover(): Promise<void> {
    const seen = await observePrefix(this.prefix);
    for (const [index, id] of seen.veths) {
      if (!id || this.#pool.indexOf(this.#pool.address(index)) !== index) continue;
      this.#pool.reserve(index);
      const restricted = seen.nft.chains.includes(id);
      const mapped = [...seen.nft.egress].filter(([, chain]) => chain === id).map(([a]) => a);
      this.#track({
        id,
        hostId: id,
        index,
        rules: restricted ? [] : undefined,
        mapped,
        learned: new Map(),
      });
    }
    if (this.#byId.size > 0)
      this.#log.info(
        { sandboxes: [...this.#byId.keys()] },
        "Found sandbox networks of a previous run",
      );
  }

  /** A sandbox's resolv.conf (see `sandboxResolvConf`); refreshes the forwarder's upstreams. */
  async #resolvConf(restricted: boolean): Promise<string> {
    const { host, systemd } = await readHostResolvConf();
    if (!this.#fixedUpstreams)
      this.#upstreams = (host.nameservers.length > 0 ? host.nameservers : ["127.0.0.1"]).map(
        parseUpstream,
      );
    const hostAddresses = this.#hostAddresses;
    const rc = sandboxResolvConf({
      host,
      systemd,
      hostAddresses,
      gateway: this.gateway,
      restricted,
    });
    if (rc.fallback !== undefined && rc.fallback !== this.#resolvWarning)
      this.#log.warn(
        { reason: rc.fallback },
        "Sandboxes resolve names through the daemon's DNS forwarder",
      );
    this.#resolvWarning = rc.fallback ?? this.#resolvWarning;
    return rc.text;
  }

  /** The static egress targets of a policy, its host names resolved now. */
  async #egress(rules: readonly AllowRule[] | undefined): Promise<EgressTargets | undefined> {
    if (!rules) return undefined;
    const resolved = await resolveAll(hostsToResolve(rules), {
      lookup: this.#lookup,
      timeoutMs: LOOKUP_TIMEOUT_MS,
      onError: (host, err) =>
        this.#log.warn(
          { err, host },
          "An allowNet host name did not resolve; the DNS forwarder allows it once it does",
        ),
    });
    return egressTargets(rules, resolved);
  }

  #decide(client: string, name: string): DnsDecision {
    const s = this.#byAddress.get(client);
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
        await this.#learnQueue.run(rs.learnRules(this.prefix, s.id, targets));
        for (const t of targets) s.learned.set(t.key, now + t.timeoutS * 1000);
      },
    };
  }
}

/** A sandbox the manager knows nothing about: its teardown removes every kind of state. */
function leftover(id: string): Sandbox {
  return { id, hostId: id, index: undefined, rules: [], mapped: [], learned: new Map() };
}
