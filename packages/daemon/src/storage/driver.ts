/**
 * The storage driver contract.
 *
 * ## Glossary
 *
 * - **layer**: a filesystem tree that a driver keeps under an opaque id chosen by the
 *   service layer (the driver never sees user-facing names). Every layer is writable or
 *   read-only, for its whole life.
 * - **writable layer**: made empty by `create(id)`, or as a clone by `create(id, { from })`.
 *   Volumes, sandbox roots and image builds in progress are writable layers.
 * - **read-only layer**: made by `snapshot(source, id)`; its content never changes
 *   afterwards. Snapshots and base images are read-only layers.
 * - **clone**: a writable layer whose initial content is a copy of another layer's (with
 *   `info.cheapClone`, a copy-on-write one that shares the data).
 * - **snapshot**: a read-only layer whose content is a copy of another layer's at one
 *   instant (also the verb: `snapshot()` makes one).
 * - **live**: a layer that is writable or read-only, as opposed to trashed or half-made.
 * - **trash**: where `trash(id)` moves a writable layer: out of reach at once (no path,
 *   not live), its data kept until it is purged.
 * - **purge**: `remove(id)`, which deletes a layer, live or trashed, with its data.
 * - **restore**: `restore(id, snapshot)`, which replaces a writable layer's content with a
 *   read-only layer's, keeping the writable layer's id and path.
 * - **referenced bytes**: all the bytes a layer's content holds (its flattened size),
 *   including what it shares with other layers; what a capacity bounds.
 * - **inherited bytes**: the part of a clone's or snapshot's referenced bytes it got from
 *   its source when it was made, rather than wrote itself.
 * - **exclusive bytes**: the layer's own share of the pool: what only it holds (or, under
 *   btrfs simple quotas, what it wrote itself and is still on disk), so that shares add up.
 *
 * ## Rules
 *
 * Lifecycle rules every driver follows (the conformance suite checks them):
 *
 * 1. Creating an id that exists (in any state, trashed included) fails with
 *    `LayerExistsError`; using an id that names no live layer fails with
 *    `LayerNotFoundError`.
 * 2. Creation is atomic as seen by `list()`: a crash leaves either a complete layer or
 *    nothing but leftovers that `cleanup()` removes.
 * 3. A clone or snapshot is independent of its source: writing one never changes the
 *    other, and removing the source never damages it.
 * 4. `trash(id)` moves a writable layer out of reach at once (its files are no longer at
 *    `writablePath(id)`) and keeps its data until `remove(id)`; `remove` works on any
 *    layer, trashed or not, and is idempotent.
 * 5. With `info.cheapClone`, `create({from})` and `snapshot` take the same time whatever
 *    the size of the data.
 * 6. `restore(id, snapshot)` is atomic across crashes: after any interruption, `cleanup()`
 *    leaves the layer with either its old content or the snapshot's (never neither, never
 *    a mix), and frees the other copy.
 * 7. A read-only layer's referenced bytes are recorded once, when it is made, and
 *    `usage()` answers them from that record afterwards.
 *
 * Drivers never mount anything for the runtime: `writablePath(id)` and `livePath(id)` say
 * where a layer's files are, and the runtime bind-mounts that path as a root filesystem
 * or at a mount point.
 *
 * @example
 * ```ts
 * await driver.create("vol_1", { capacityBytes: 1e9 });      // empty volume
 * await driver.snapshot("vol_1", "snp_1");                  // read-only copy, O(1)
 * await driver.create("vol_2", { from: "snp_1", capacityBytes: 1e9 }); // writable clone, O(1)
 * const sizes = await driver.usage(["vol_1", "snp_1"]);      // Map id -> LayerUsage
 * ```
 */
export interface StorageDriver {
  readonly info: StorageInfo;
  /**
   * Creates a writable layer, empty or as a clone of the live layer `from`. An empty
   * layer's top folder belongs to `owner` (default: the daemon's user) where the driver
   * may set owners, so that the sandboxes' mapped root can write to it. With
   * `info.quotas`, `capacityBytes` bounds the layer's referenced bytes; without, it is
   * accepted and not enforced.
   */
  create(id: string, options?: CreateOptions): Promise<void>;
  /**
   * Creates the read-only layer `id` as a point-in-time copy of the live layer `source`,
   * and records its referenced bytes (rule 7).
   */
  snapshot(source: string, id: string): Promise<void>;
  /**
   * Sets (or, with `null`, lifts) the capacity of a writable layer; without
   * `info.quotas` only checks that the layer exists.
   */
  setCapacity(id: string, bytes: number | null): Promise<void>;
  /** Moves a writable layer to the trash: out of reach at once, data kept until `remove`. */
  trash(id: string): Promise<void>;
  /** Purges a layer (live or trashed) and its data. Missing ids are not an error. */
  remove(id: string): Promise<void>;
  /**
   * Where the writable layer `id`'s files are on the host, for the runtime and the image
   * builders. Synchronous and computed from the id alone: it neither checks that the layer
   * exists nor finds read-only layers (use {@link livePath} for those).
   */
  writablePath(id: string): string;
  /**
   * Where the live layer `id`'s files are, writable or read-only. Fails with
   * `LayerNotFoundError` when there is no such live layer.
   */
  livePath(id: string): Promise<string>;
  /** Whether a live (writable or read-only) layer with that id exists. */
  has(id: string): Promise<boolean>;
  /** Every layer, with its state, including temporary leftovers of interrupted work. */
  list(): Promise<LayerEntry[]>;
  /**
   * The space used by each live layer among `ids`. Ids that name no live layer (unknown,
   * purged, trashed) are absent from the answer; the cost depends on the layers asked for,
   * never on how many the pool holds.
   *
   * A read-only layer's referenced bytes come from the record made when it was made, and
   * never change. A writable layer's figures count every write that completed before the
   * call (a driver whose accounting lags, like btrfs qgroups until a transaction commit,
   * brings it up to date first, and says what that costs).
   *
   * @example
   * ```ts
   * const sizes = await driver.usage(["vol_1", "snp_1", "gone"]);
   * sizes.get("snp_1")?.referencedBytes; // the snapshot's content, as recorded
   * sizes.has("gone");                   // false
   * ```
   */
  usage(ids: readonly string[]): Promise<Map<string, LayerUsage>>;
  /**
   * Restores a writable layer: replaces the content of the writable layer `id` with a
   * writable copy of the read-only layer `snapshot` (O(1) with `info.cheapClone`), keeping
   * the id, path and the given capacity. The caller makes sure nothing has the layer
   * mounted. The snapshot is unchanged. Fails with `LayerNotFoundError` when either is
   * missing, and with a plain error when `snapshot` is not read-only.
   *
   * @example
   * ```ts
   * await driver.snapshot("vol_1", "snp_1");
   * await driver.restore("vol_1", "snp_1", { capacityBytes: 1e9 }); // vol_1 is back at snp_1
   * ```
   */
  restore(
    id: string,
    snapshot: string,
    options?: { capacityBytes?: number | undefined },
  ): Promise<void>;
  /**
   * The paths that differ between two read-only layers, relative to their roots (as `/a/b`):
   * present only in `target` (added), only in `base` (removed), or in both with other
   * content, type, mode, owner, link target or extended attributes (changed). Times alone
   * never count. A renamed path is removed at its old place and added at its new one, with
   * everything under it. Symlinks are compared as links, never followed. Each list is
   * sorted and holds at most `limit` paths; `truncated` says some were left out. Fails
   * with `LayerNotFoundError` for a missing layer, and with a plain error for a writable
   * one.
   */
  diff(base: string, target: string, options?: { limit?: number | undefined }): Promise<LayerDiff>;
  /**
   * Removes leftovers of interrupted work and returns their names: `tmp` entries of
   * interrupted creations; an interrupted `restore()` is finished or undone (rule 6).
   * The daemon calls it once at start, before anything else uses the driver.
   */
  cleanup(): Promise<string[]>;
  /** Total and free bytes of the pool. */
  capacity(): Promise<{ totalBytes: number; freeBytes: number }>;
}

export interface CreateOptions {
  from?: string | undefined;
  capacityBytes?: number | undefined;
  owner?: { uid: number; gid: number } | undefined;
}

/**
 * What a driver can do; the service (and the conformance suite) branches on these, never
 * on a driver's name.
 */
export interface StorageInfo {
  /** For logs and messages only. */
  readonly name: string;
  /** Capacities are enforced by the filesystem (writes fail with EDQUOT). */
  readonly quotas: boolean;
  /** Clones and snapshots cost O(1) whatever the data size (copy-on-write). */
  readonly cheapClone: boolean;
}

/** What `diff()` found; paths are relative to the layers' roots, written `/a/b`. */
export interface LayerDiff {
  added: string[];
  removed: string[];
  changed: string[];
  truncated: boolean;
}

/**
 * Where a layer is in its life: live (`writable`, `readonly`), half-made by a creation a
 * crash cut (`tmp`, removed by `cleanup()`), or trashed (`trash`, until `remove()`).
 */
export type LayerState = "writable" | "readonly" | "tmp" | "trash";

export interface LayerEntry {
  id: string;
  state: LayerState;
}

/** What `usage()` answers for one layer (see the glossary above). */
export interface LayerUsage {
  /**
   * Bytes of everything the layer holds (its flattened size), which its capacity bounds. A
   * driver may count what a layer inherited at the size it had when the layer was made.
   */
  referencedBytes: number;
  /**
   * The layer's own share of the pool: the bytes only it holds, or (btrfs simple quotas)
   * the bytes it wrote itself that are still on disk, so that shares add up. A driver
   * without cheap clones shares nothing: exclusive and referenced bytes are equal.
   */
  exclusiveBytes: number;
}

export class LayerNotFoundError extends Error {
  constructor(id: string) {
    super(`Layer ${JSON.stringify(id)} does not exist`);
    this.name = "LayerNotFoundError";
  }
}

export class LayerExistsError extends Error {
  constructor(id: string) {
    super(`Layer ${JSON.stringify(id)} already exists`);
    this.name = "LayerExistsError";
  }
}

const LAYER_ID = /^[a-z0-9_-]{1,64}$/;

/** Whether `id` can name a layer: ids are opaque but must be safe as one path component. */
export function isLayerId(id: string): boolean {
  return LAYER_ID.test(id);
}

/** Throws for an id that cannot name a layer (a bug in the caller, not bad user input). */
export function assertLayerId(id: string): void {
  if (!isLayerId(id)) throw new Error(`Invalid layer id ${JSON.stringify(id)}`);
}
