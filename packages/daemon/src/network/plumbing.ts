/**
 * The host side of sandbox networks: runs the ruleset's `ip` batches and nft scripts for
 * one sandbox (its netns, veth pair, bridge port binding and egress chain). It keeps no
 * state; which networks exist is the manager's business (see `SandboxNets`).
 */
import { run } from "../lib/exec.ts";
import { type AddressPool, macOf, netnsName, vethName } from "./addresses.ts";
import type { EgressTargets } from "./allow-net.ts";
import { exists } from "./host-io.ts";
import { type NftState, strayElements } from "./host-state.ts";
import { nft } from "./nft-queue.ts";
import * as rs from "./ruleset.ts";
import type { SandboxNet } from "./sandbox-nets.ts";
import type { Attachment } from "./types.ts";

export class Plumbing {
  readonly #prefix: string;
  readonly #bridge: string;
  readonly #pool: AddressPool;
  readonly #ipv6: boolean;

  constructor(options: { prefix: string; bridge: string; pool: AddressPool; ipv6: boolean }) {
    this.#prefix = options.prefix;
    this.#bridge = options.bridge;
    this.#pool = options.pool;
    this.#ipv6 = options.ipv6;
  }

  /** The veth, MAC and address of sandbox `id` at address `index`. */
  link(id: string, index: number): rs.SandboxLink {
    const address = this.#pool.address(index);
    return { id, veth: vethName(this.#prefix, index), mac: macOf(address), address };
  }

  /** What the runtime needs of the network of `s` (which has an address). */
  attachment(s: SandboxNet, resolvConf: string): Attachment {
    const netns = netnsName(this.#prefix, s.hostId);
    const address = this.#pool.address(s.index!);
    return {
      netns,
      netnsPath: `/run/netns/${netns}`,
      address,
      gateway: this.#pool.gateway,
      resolvConf,
    };
  }

  /** Creates the netns and veth pair of `s` (named and labelled by its hostId). */
  async createLinks(s: SandboxNet): Promise<void> {
    const link = this.link(s.id, s.index!);
    const netns = netnsName(this.#prefix, s.hostId);
    const l = { netns, bridge: this.#bridge, veth: link.veth, mac: link.mac, sandboxId: s.hostId };
    await run(["ip", "-batch", "-"], { input: rs.hostLinkBatch(l) });
    const inside = { address: link.address, gateway: this.#pool.gateway, ipv6: this.#ipv6 };
    await run(["ip", "-n", netns, "-batch", "-"], { input: rs.netnsBatch(inside) });
  }

  /**
   * Adds the bridge port binding of `s` and, with `egress`, its egress chain and sets;
   * with `replace`, in the same transaction as removing the rules it had (see `adopt`).
   * Records in `s.mapped` what the egress map now sends to its chain.
   */
  async addRules(
    s: SandboxNet,
    egress: EgressTargets | undefined,
    options: { replace?: boolean } = {},
  ): Promise<void> {
    const link = this.link(s.id, s.index!);
    const before = options.replace
      ? rs.detachRules(this.#prefix, { ...s, port: link, egress: true })
      : "";
    await nft(before + rs.attachRules(this.#prefix, link, egress));
    s.mapped = egress ? [link.address] : [];
  }

  /** Removes whatever of `s` exists on the host: netns, veth and rules. */
  async remove(s: SandboxNet): Promise<void> {
    const netns = netnsName(this.#prefix, s.hostId);
    const link = s.index === undefined ? undefined : this.link(s.id, s.index);
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
      nft(rs.detachRules(this.#prefix, detach)),
    ]);
    const failed = results.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
  }

  /** Deletes the host veth at address `index` if it exists. */
  async removeVeth(index: number): Promise<void> {
    const veth = vethName(this.#prefix, index);
    if (await exists(`/sys/class/net/${veth}`)) await run(["ip", "link", "del", veth]);
  }

  /** Deletes the nft elements of `state` that none of `live` owns (see `strayElements`). */
  async removeStrayElements(state: NftState, live: readonly SandboxNet[]): Promise<void> {
    const owners = live.flatMap((s) =>
      s.index === undefined ? [] : [{ link: this.link(s.id, s.index), mapped: s.mapped }],
    );
    const text = rs.removeElements(this.#prefix, strayElements(state, owners));
    if (text) await nft(text);
  }
}
