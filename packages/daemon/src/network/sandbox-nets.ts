/**
 * The network manager's bookkeeping: what it knows of each sandbox network, by sandbox id
 * and by address (the DNS forwarder identifies its clients by source address).
 */
import type { AddressPool } from "./addresses.ts";
import type { AllowRule } from "./allow-net.ts";

/** One sandbox's network as the manager knows it. */
export interface SandboxNet {
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

/** A fresh network record for `id` at address `index`, named by `hostId`. */
export function newSandboxNet(
  id: string,
  options: { hostId?: string; index: number | undefined; rules?: AllowRule[] | undefined },
): SandboxNet {
  const { hostId = id, index, rules } = options;
  return { id, hostId, index, rules, mapped: [], learned: new Map() };
}

/** A sandbox the manager knows nothing about: its teardown removes every kind of state. */
export function leftover(id: string): SandboxNet {
  return { ...newSandboxNet(id, { index: undefined }), rules: [] };
}

/**
 * The networks the manager tracks, and the addresses they hold in the pool. A network is
 * tracked from before its first exec until its teardown succeeded.
 */
export class SandboxNets {
  readonly pool: AddressPool;
  #byId = new Map<string, SandboxNet>();
  #byAddress = new Map<string, SandboxNet>();

  constructor(pool: AddressPool) {
    this.pool = pool;
  }

  get size(): number {
    return this.#byId.size;
  }

  get(id: string): SandboxNet | undefined {
    return this.#byId.get(id);
  }

  has(id: string): boolean {
    return this.#byId.has(id);
  }

  /** The network holding `address`, if any. */
  atAddress(address: string): SandboxNet | undefined {
    return this.#byAddress.get(address);
  }

  ids(): string[] {
    return [...this.#byId.keys()];
  }

  values(): SandboxNet[] {
    return [...this.#byId.values()];
  }

  track(s: SandboxNet): void {
    this.#byId.set(s.id, s);
    if (s.index !== undefined) this.#byAddress.set(this.pool.address(s.index), s);
  }

  /** Tracks `next` in place of `previous` (a warm network handed to a sandbox). */
  replace(previous: SandboxNet, next: SandboxNet): void {
    this.#byId.delete(previous.id);
    this.track(next);
  }

  /** Stops tracking `s` and frees its address unless another network took it meanwhile. */
  forget(s: SandboxNet): void {
    this.#byId.delete(s.id);
    if (s.index === undefined) return;
    const address = this.pool.address(s.index);
    if (this.#byAddress.get(address)?.id === s.id) {
      this.#byAddress.delete(address);
      this.pool.release(s.index);
    }
  }
}
