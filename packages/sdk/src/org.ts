import type { Org, OrgUpdate } from "@strata/api";
import type { Transport } from "./transport.ts";

/** `client.org`: the organisation the token belongs to, and its settings. */
export class OrgSettings {
  readonly #t: Transport;

  /** @internal Use `client.org`. */
  constructor(transport: Transport) {
    this.#t = transport;
  }

  /**
   * Gets the calling organisation: its id, name and settings.
   *
   * @example
   * ```ts
   * const { name, snapshotRetention } = await client.org.get(); // snapshotRetention: "30d"
   * ```
   */
  get(options: { signal?: AbortSignal } = {}): Promise<Org> {
    return this.#t.json<Org>("GET", "/org", { signal: options.signal });
  }

  /**
   * Changes settings and returns the organisation. `snapshotRetention` (`"30d"`, `"12h"`,
   * `"90m"`, `"45s"` or `"never"`) sets the expiry of snapshots taken from now on; existing
   * snapshots keep theirs (change one with `snapshots.update()`). Throws
   * `invalid_retention` for anything else.
   *
   * @example
   * ```ts
   * await client.org.update({ snapshotRetention: "7d" });
   * ```
   */
  update(changes: OrgUpdate, options: { signal?: AbortSignal } = {}): Promise<Org> {
    return this.#t.json<Org>("PATCH", "/org", { body: changes, signal: options.signal });
  }
}
