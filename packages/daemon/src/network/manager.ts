import {
  AddressPool,
  bridgeName,
  formatNet,
  PREFIX_RE,
  poolToken,
  SANDBOX_ID_RE,
} from "./addresses.ts";
import { type AllowRule, parseAllowNet } from "./allow-net.ts";
import { type BridgeSetup, ensureBridge, removeBridge } from "./bridge.ts";
import { enableIpv4Forwarding, observePrefix } from "./host-io.ts";
import { nft } from "./nft-queue.ts";
import { Plumbing } from "./plumbing.ts";
import * as rs from "./ruleset.ts";
import { SandboxDns } from "./sandbox-dns.ts";
import { leftover, newSandboxNet, type SandboxNet, SandboxNets } from "./sandbox-nets.ts";
import type { Attachment, AttachOptions, NetworkLogger, NetworkManagerOptions } from "./types.ts";

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
  #nets: SandboxNets;
  #host: Plumbing;
  #dns: SandboxDns;
  #warm: number;
  #spares: SandboxNet[] = [];
  #filling: Promise<void> | undefined;
  #closed = false;

  private constructor(
    options: NetworkManagerOptions,
    parts: { setup: BridgeSetup; nets: SandboxNets; dns: SandboxDns },
  ) {
    this.prefix = options.prefix;
    this.bridge = bridgeName(this.prefix);
    this.#pool = parts.nets.pool;
    this.#log = options.log;
    this.#nets = parts.nets;
    this.#dns = parts.dns;
    this.#host = new Plumbing({
      prefix: this.prefix,
      bridge: this.bridge,
      pool: this.#pool,
      ipv6: parts.setup.ipv6,
    });
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
    if (await enableIpv4Forwarding())
      log.info(
        { sysctl: "net.ipv4.ip_forward=1" },
        "Enabled IPv4 forwarding so that sandboxes reach the outside through NAT",
      );
    const nets = new SandboxNets(new AddressPool(setup.subnet));
    const dns = await SandboxDns.start({
      prefix,
      gateway: nets.pool.gateway,
      hostAddresses: setup.hostAddresses,
      nets,
      log,
      lookup: options.lookup,
      dnsUpstreams: options.dnsUpstreams,
    });
    stack.defer(() => dns.close());
    const m = new NetworkManager(options, { setup, nets, dns });
    await m.#dns.resolvConf(false);
    const base = { prefix, bridge: m.bridge, subnet: m.subnet, gateway: m.gateway };
    await nft(rs.baseRuleset({ ...base, dnsPort: m.#dns.port }));
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
    if (this.#nets.has(sandboxId))
      throw new Error(`Cannot attach the network of sandbox ${sandboxId}: it is already attached`);
    const rules = options.allowNet === undefined ? undefined : parseAllowNet(options.allowNet);
    const spare = this.#spares.shift();
    this.#refill();
    if (spare) return this.#handOut(spare, sandboxId, rules);
    const s = newSandboxNet(sandboxId, { index: this.#pool.allocate(), rules });
    this.#nets.track(s);
    const [resolvConf, ...steps] = await Promise.allSettled([
      this.#dns.resolvConf(rules !== undefined),
      this.#host.createLinks(s),
      this.#rules(s),
    ]);
    const failed = steps.find((r) => r.status === "rejected");
    if (failed || resolvConf.status === "rejected") {
      await this.#teardown(s).catch((err) =>
        this.#log.error({ err, sandboxId }, "Could not undo a failed network attach"),
      );
      throw resolvConf.status === "rejected" ? resolvConf.reason : failed?.reason;
    }
    return this.#host.attachment(s, resolvConf.value);
  }

  /** Adds the bridge port binding of `s` and, with allowNet, its egress chain and sets. */
  async #rules(s: SandboxNet): Promise<void> {
    await this.#host.addRules(s, await this.#dns.egress(s.rules));
  }

  /**
   * Gives a warm network to a sandbox: it already has its netns, veth, address and bridge
   * port; only an allowNet policy needs rules now. Its netns keeps the pool token's name.
   */
  async #handOut(
    spare: SandboxNet,
    sandboxId: string,
    rules: AllowRule[] | undefined,
  ): Promise<Attachment> {
    const s: SandboxNet = { ...spare, id: sandboxId, spare: false, rules };
    this.#nets.replace(spare, s);
    try {
      const [resolvConf] = await Promise.all([
        this.#dns.resolvConf(rules !== undefined),
        rules ? this.#rules(s) : undefined,
      ]);
      return this.#host.attachment(s, resolvConf);
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
        const s = { ...newSandboxNet(token, { index: this.#pool.allocate() }), spare: true };
        this.#nets.track(s);
        try {
          await Promise.all([this.#host.createLinks(s), this.#rules(s)]);
        } catch (err) {
          await this.#teardown(s).catch(() => {});
          this.#log.warn({ err }, "Could not make a warm sandbox network");
          return;
        }
        if (this.#closed) return;
        // Only a network still tracked is whole (nothing tore it down meanwhile).
        if (this.#nets.get(s.id) === s) this.#spares.push(s);
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
    const s = this.#nets.get(sandboxId);
    if (s?.index === undefined)
      throw new Error(`Cannot adopt the network of sandbox ${sandboxId}: it has none on this host`);
    const rules = options.allowNet === undefined ? undefined : parseAllowNet(options.allowNet);
    await this.#host.addRules(s, await this.#dns.egress(rules), { replace: true });
    Object.assign(s, { rules, learned: new Map() });
    return this.#host.attachment(s, await this.#dns.resolvConf(rules !== undefined));
  }

  /** Removes a sandbox's netns, veth and rules, and frees its address. Idempotent. */
  async detach(sandboxId: string): Promise<void> {
    await this.#teardown(this.#nets.get(sandboxId) ?? leftover(sandboxId));
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
    for (const s of this.#nets.values())
      if (s.spare || keep.has(s.id)) keep.add(s.hostId).add(s.id);
    // A warm network handed out is named by its pool token: count it as its sandbox.
    const byHost = new Map(this.#nets.values().map((s) => [s.hostId, s.id]));
    const asId = (x: string) => byHost.get(x) ?? x;
    const owners = [...seen.veths.values()].filter((id): id is string => id !== undefined);
    const ids = new Set([
      ...this.#nets.ids(),
      ...seen.netns.map(asId),
      ...seen.nft.chains,
      ...owners.map(asId),
    ]);
    const removed = [...ids].filter((id) => !keep.has(id)).sort();
    for (const id of removed) {
      const index = [...seen.veths].find(([, owner]) => owner === id)?.[0];
      const known = this.#nets.get(id) ?? { ...leftover(id), index };
      // Whatever nft holds for it: a chain an element still jumps to cannot be deleted.
      const mapped = [...seen.nft.egress].filter(([, chain]) => chain === id).map(([a]) => a);
      const rules = known.rules ?? (seen.nft.chains.includes(id) ? [] : undefined);
      await this.#teardown({ ...known, rules, mapped: [...new Set([...known.mapped, ...mapped])] });
    }
    for (const [index, owner] of seen.veths) {
      // A veth whose address a tracked sandbox holds is its own, even without its label yet
      // (a warm network being made: `ip` labels the veth after creating it).
      const tracked = this.#nets
        .values()
        .some((s) => s.index === index || (owner !== undefined && s.hostId === owner));
      if (!tracked) await this.#host.removeVeth(index);
    }
    const { nft: after } = await observePrefix(this.prefix);
    await this.#host.removeStrayElements(after, this.#nets.values());
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
    for (const s of this.#nets.values().filter((x) => x.spare))
      await this.#teardown(s).catch(() => {});
    for (const s of this.#nets.values()) {
      this.#log.warn(
        { sandboxId: s.id },
        "Removing the network of a sandbox still attached at close",
      );
      await this.#teardown(s).catch((err) =>
        this.#log.error({ err, sandboxId: s.id }, "Could not detach"),
      );
    }
    await this.#dns.close();
    await removeBridge(this.prefix);
    await nft(rs.removeRuleset(this.prefix));
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error(`The network of prefix ${this.prefix} is closed`);
  }

  async #teardown(s: SandboxNet): Promise<void> {
    await this.#host.remove(s);
    this.#nets.forget(s);
  }

  /** Takes note of the sandboxes a previous run left: a labelled veth gives back the address. */
  async #recover(): Promise<void> {
    const seen = await observePrefix(this.prefix);
    for (const [index, id] of seen.veths) {
      if (!id || this.#pool.indexOf(this.#pool.address(index)) !== index) continue;
      this.#pool.reserve(index);
      const restricted = seen.nft.chains.includes(id);
      const mapped = [...seen.nft.egress].filter(([, chain]) => chain === id).map(([a]) => a);
      this.#nets.track({
        ...newSandboxNet(id, { index, rules: restricted ? [] : undefined }),
        mapped,
      });
    }
    if (this.#nets.size > 0)
      this.#log.info({ sandboxes: this.#nets.ids() }, "Found sandbox networks of a previous run");
  }
}
