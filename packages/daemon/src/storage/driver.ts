/**
 * The storage driver contract.
 *
 * A driver keeps **layers**: filesystems named by opaque ids that the service layer
 * chooses (the driver never sees user-facing names). A layer is either
 *
 * - **writable**: made empty by `create(id)`, or as a copy-on-write clone of another layer
 *   by `create(id, { from })`. Volumes and sandbox roots are writable layers. A capacity,
 *   when the driver has `info.quotas`, is enforced by the filesystem: writes past it fail
 *   with EDQUOT inside whatever has the layer mounted.
 * - **read-only**: made by `snapshot(source, id)`, a point-in-time copy of any layer.
 *   Snapshots and base images are read-only layers. They never change afterwards.
 *
 * Lifecycle rules every driver follows (the conformance suite checks them):
 *
 * 1. Creating an id that exists fails with `LayerExistsError`; using an id that does not
 *    exist fails with `LayerNotFoundError`.
 * 2. Creation is atomic as seen by `list()`: a crash leaves either a complete layer or
 *    nothing but leftovers that `cleanup()` removes.
 * 3. A clone or snapshot is independent of its source: writing one never changes the
 *    other, and removing the source never damages it.
 * 4. `trash(id)` moves a writable layer out of reach at once (its `path` is gone) and keeps
 *    its data until `remove(id)`; `remove` works on any layer, trashed or not, and is
 *    idempotent.
 * 5. With `info.cheapClone`, `create({from})` and `snapshot` take the same time whatever
 *    the size of the data.
 * 6. `restore(id, snapshot)` replaces a writable layer's content with a read-only layer's
 *    and is atomic across crashes: after any interruption, `cleanup()` leaves the layer with
 *    either its old content or the snapshot's (never neither, never a mix), and frees the
 *    other copy.
 *
 * Drivers never mount anything for the runtime: `path(id)` says where the layer's files
 * are, and the runtime bind-mounts that path as a root filesystem or at a mount point.
 *
 * @example
 * ```ts
 * await driver.create("vol_1", { capacityBytes: 1e9 });      // empty volume
 * await driver.snapshot("vol_1", "snp_1");                  // read-only copy, O(1)
 * await driver.create("vol_2", { from: "snp_1", capacityBytes: 1e9 }); // writable fork, O(1)
 * const usage = await driver.usage();                        // Map id -> bytes
 * ```
 */
export interface StorageDriver {
  readonly info: StorageInfo;
  /**
   * Creates a writable layer, empty or as a copy-on-write clone of the layer `from`. An
   * empty layer's top folder belongs to `owner` (default: root), so that the sandboxes'
   * mapped root can write to it.
   */
  create(id: string, options?: CreateOptions): Promise<void>;
  /** Creates the read-only layer `id` as a point-in-time copy of `source`. */
  snapshot(source: string, id: string): Promise<void>;
  /** Sets (or, with `null`, lifts) the capacity of a writable layer. */
  setCapacity(id: string, bytes: number | null): Promise<void>;
  /** Moves a writable layer to the trash: out of reach at once, data kept until `remove`. */
  trash(id: string): Promise<void>;
  /** Deletes a layer (live or trashed) and its data. Missing ids are not an error. */
  remove(id: string): Promise<void>;
  /** Where the layer's files are on the host, for the runtime and image builders. */
  path(id: string): string;
  /**
   * Where a live layer's files are, writable or read-only (`path()` names writable layers
   * only). Fails with `LayerNotFoundError` when there is no such live layer.
   */
  pathOf(id: string): Promise<string>;
  /** Whether a live (not trashed) layer with that id exists. */
  has(id: string): Promise<boolean>;
  /** Every layer, with its state, including temporary leftovers of interrupted work. */
  list(): Promise<LayerEntry[]>;
  /** Space used by each live layer, read from the filesystem's accounting. */
  usage(): Promise<Map<string, LayerUsage>>;
  /**
   * Replaces the content of the writable layer `id` with a writable copy of the read-only
   * layer `snapshot` (O(1) with `info.cheapClone`), keeping the id, path and the given
   * capacity. The caller makes sure nothing has the layer mounted. The snapshot is
   * unchanged. Fails with `LayerNotFoundError` when either is missing, and with a plain
   * error when `snapshot` is not read-only.
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
   * everything under it. Each list is sorted and holds at most `limit` paths; `truncated`
   * says some were left out. Fails with `LayerNotFoundError` for a missing layer.
   */
  diff(base: string, target: string, options?: { limit?: number | undefined }): Promise<LayerDiff>;
  /**
   * Removes leftovers of interrupted work: `tmp` entries of interrupted creations, and
   * finishes or undoes an interrupted `restore()`.
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

/** What a driver can do; the service branches on these, never on a driver's name. */
export interface StorageInfo {
  readonly name: string;
  /** Capacities are enforced by the filesystem (writes fail with EDQUOT). */
  readonly quotas: boolean;
  /** Clones and snapshots cost O(1) whatever the data size. */
  readonly cheapClone: boolean;
}

/** What `diff()` found; paths are relative to the layers' roots, written `/a/b`. */
export interface LayerDiff {
  added: string[];
  removed: string[];
  changed: string[];
  truncated: boolean;
}

export type LayerState = "writable" | "readonly" | "tmp" | "trash";

export interface LayerEntry {
  id: string;
  state: LayerState;
}

export interface LayerUsage {
  /**
   * Bytes of everything the layer holds (its flattened size), which its capacity bounds. A
   * driver may count what a clone inherited at the size it had when the clone was made.
   */
  referencedBytes: number;
  /**
   * The layer's own share of the pool: the bytes only it holds, or (btrfs simple quotas)
   * the bytes it wrote itself that are still on disk, so that shares add up.
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

/** Ids are opaque but must be safe as a single path component. */
export function assertLayerId(id: string): void {
  if (!/^[a-z0-9_-]{1,64}$/.test(id)) throw new Error(`Invalid layer id ${JSON.stringify(id)}`);
}
