import type { SandboxSnapshotCreate, Snapshot } from "@strata/api";
import { type ListOptions, listPages, type PaginatedList } from "./paginated-list.ts";
import { type SnapshotWaitOptions, waitForSnapshot } from "./snapshot-wait.ts";
import { seg, type Transport } from "./transport.ts";

/** Options of `sandbox.snapshots.create()`. */
export interface SandboxSnapshotCreateOptions extends SnapshotWaitOptions {
  /**
   * Resolve only once the snapshot is `ready` (as `client.snapshots.waitReady()` does),
   * throwing a {@link SnapshotFailedError} if it fails. Default `false`: resolve with the
   * snapshot in status `creating` as soon as the daemon accepts it.
   */
  wait?: boolean;
}

/**
 * `sandbox.snapshots`: point-in-time copies of a running sandbox's root filesystem. The
 * sandbox is frozen only for the copy; its processes go on afterwards. Start sandboxes
 * from a snapshot with `client.sandboxes.create({ fromSnapshot })`.
 */
export class SandboxSnapshots {
  readonly #t: Transport;
  readonly #id: string;

  /** @internal Use `sandbox.snapshots`. */
  constructor(transport: Transport, sandboxId: string) {
    this.#t = transport;
    this.#id = sandboxId;
  }

  /**
   * Snapshots the sandbox's root filesystem under `name` (2–63 of `[a-z0-9.-]`, a letter
   * or digit at each end, as volume slugs; unique in the organisation). The daemon answers at once with status `creating`; pass
   * `{ wait: true }` to resolve only once the snapshot is `ready`. Only one snapshot of a
   * sandbox may be in flight (`snapshot_in_progress`); a paused sandbox refuses
   * (`sandbox_paused`).
   *
   * @example
   * ```ts
   * await sandbox.sh`apt-get install -y ripgrep`;
   * const snapshot = await sandbox.snapshots.create({ name: "with-ripgrep" }, { wait: true });
   * await using copy = await client.sandboxes.create({ fromSnapshot: snapshot.slug });
   * ```
   */
  async create(
    init: SandboxSnapshotCreate,
    options: SandboxSnapshotCreateOptions = {},
  ): Promise<Snapshot> {
    const snapshot = await this.#t.json<Snapshot>("POST", `/sandboxes/${seg(this.#id)}/snapshots`, {
      body: { name: init.name },
      signal: options.signal,
    });
    return options.wait ? waitForSnapshot(this.#t, snapshot, options) : snapshot;
  }

  /**
   * Lists this sandbox's snapshots, manual and automatic, one page at a time; iterate the
   * result with `for await` to walk all pages.
   *
   * @example
   * ```ts
   * for await (const s of await sandbox.snapshots.list()) console.log(s.slug, s.automatic, s.status);
   * ```
   */
  list(options: ListOptions = {}): Promise<PaginatedList<Snapshot>> {
    return listPages<Snapshot>(this.#t, `/sandboxes/${seg(this.#id)}/snapshots`, options);
  }
}
