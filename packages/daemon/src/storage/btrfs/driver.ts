import { constants } from "node:fs";
import { access, chown, rename, statfs } from "node:fs/promises";
import { ExecError, run } from "../../lib/exec.ts";
import { restrictToGroup } from "../../lib/mounts.ts";
import type {
  CreateOptions,
  LayerDiff,
  LayerEntry,
  LayerUsage,
  StorageDriver,
  StorageInfo,
} from "../driver.ts";
import { LayerRecords } from "../layer-records.ts";
import { LayerLayout } from "../layout.ts";
import { cleanupLayers, type LayerStore, restoreLayer } from "../restore.ts";
import {
  enableQuotas,
  type MeasuredLayer,
  QgroupAccounting,
  type QuotaMode,
} from "./accounting.ts";
import { btrfs } from "./commands.ts";
import { diffSubvolumes } from "./diff.ts";
import { BtrfsHelper, DEFAULT_HELPER_PATH } from "./helper.ts";
import { deleteSubvolumeTree } from "./subvolumes.ts";

export { enableQuotas, type QuotaMode } from "./accounting.ts";

/**
 * Layers as btrfs subvolumes under `<root>/{writable,readonly,tmp,trash}/<id>`
 * ({@link LayerLayout}), sizes and limits from qgroups ({@link QgroupAccounting}). A new
 * pool gets simple quotas; a pool whose quotas are already on keeps its mode. Under simple
 * quotas the driver records what each clone inherited, so that sizes and capacities still
 * cover a layer's whole content; read-only layers record their size when they are made.
 * Writable layers are made in `tmp/` and renamed into place, because subvolume creation
 * plus the qgroup limit is two steps; read-only snapshots are made at their final path
 * directly, since a snapshot ioctl is atomic and btrfs refuses to rename a read-only
 * subvolume to another directory (EROFS).
 *
 * Snapshots, creates, deletes, limits and usage are ioctls run by the `strata-btrfs`
 * co-process ({@link BtrfsHelper}); listing nested subvolumes and `diff()` still run
 * btrfs-progs. Deletes do not wait for a transaction commit: a delete lost in a crash
 * brings back a layer nothing owns, which the start-up reconcile removes.
 *
 * `usage()` commits the pool's transaction once when it is asked about a writable layer
 * (or, under full quotas, any layer), so that its figures count every write that completed
 * before the call; read-only layers under simple quotas are answered from their records.
 */
export class BtrfsDriver implements StorageDriver {
  static readonly info: StorageInfo = { name: "btrfs", quotas: true, cheapClone: true };
  readonly info: StorageInfo = BtrfsDriver.info;
  readonly #layout: LayerLayout;
  readonly #helper: BtrfsHelper;
  readonly #records: LayerRecords;
  readonly #accounting: QgroupAccounting;
  readonly #store: LayerStore;

  private constructor(options: {
    layout: LayerLayout;
    helper: BtrfsHelper;
    records: LayerRecords;
    mode: QuotaMode;
  }) {
    this.#layout = options.layout;
    this.#helper = options.helper;
    this.#records = options.records;
    this.#accounting = new QgroupAccounting({ ...options, root: options.layout.root });
    this.#store = {
      layout: this.#layout,
      records: this.#records,
      deleteEntry: (path) => this.#deleteTree(path),
    };
  }

  /**
   * Opens (creating the folders of) a driver rooted at `root`, which must be on btrfs, and
   * turns the filesystem's quotas on: simple quotas when the kernel has them and quotas were
   * off, else whatever mode is in force. `accessGid` may traverse to live layers (not list
   * them); tmp, trash and the records stay root's alone.
   */
  static async open(
    root: string,
    options: { accessGid?: number; helperPath?: string } = {},
  ): Promise<BtrfsDriver> {
    const layout = new LayerLayout(root);
    await layout.prepare();
    if (options.accessGid !== undefined) {
      for (const s of ["writable", "readonly"] as const)
        await restrictToGroup(layout.stateDir(s), options.accessGid);
    }
    const helperPath = options.helperPath ?? DEFAULT_HELPER_PATH;
    await access(helperPath, constants.X_OK).catch(() => {
      throw new Error(
        `The btrfs helper is not built at ${helperPath}: run scripts/bootstrap.sh (or packages/btrfs-helper/build.sh)`,
      );
    });
    const helper = new BtrfsHelper({ path: helperPath });
    try {
      const mode = await enableQuotas(helper, root);
      const records = await LayerRecords.load(layout.metaDir);
      return new BtrfsDriver({ layout, helper, records, mode });
    } catch (err) {
      await helper.close();
      throw err;
    }
  }

  /** How the pool's qgroups count (see {@link QuotaMode}). */
  get quotaMode(): QuotaMode {
    return this.#accounting.mode;
  }

  /** Stops the helper co-process (it also dies with the daemon). */
  close(): Promise<void> {
    return this.#helper.close();
  }

  /** The helper's process id, while one runs (tests kill it to check recovery). */
  get helperPid(): number | undefined {
    return this.#helper.pid;
  }

  writablePath(id: string): string {
    return this.#layout.files("writable", id);
  }

  livePath(id: string): Promise<string> {
    return this.#layout.livePath(id);
  }

  async has(id: string): Promise<boolean> {
    return (await this.#layout.liveState(id)) !== null;
  }

  list(): Promise<LayerEntry[]> {
    return this.#layout.list();
  }

  async create(id: string, options: CreateOptions = {}): Promise<void> {
    await this.#layout.assertFree(id);
    const tmp = this.#layout.entry("tmp", id);
    let record = {};
    if (options.from !== undefined) {
      const sourcePath = await this.#layout.livePath(options.from);
      record = await this.#accounting.clone({
        source: options.from,
        sourcePath,
        dest: tmp,
        readOnly: false,
      });
    } else {
      await this.#helper.call("subvol", [tmp]);
      if (options.owner) await chown(tmp, options.owner.uid, options.owner.gid);
    }
    try {
      // Recorded before the layer is in place; cleanup() drops it with a half-made layer.
      await this.#records.set(id, record);
      if (options.capacityBytes !== undefined)
        await this.#accounting.limit(tmp, options.capacityBytes, id);
      await rename(tmp, this.#layout.entry("writable", id));
    } catch (err) {
      await this.#records.remove(id).catch(() => {});
      await this.#deleteTree(tmp).catch(() => {});
      throw err;
    }
  }

  /**
   * A read-only snapshot, its size recorded just after the ioctl: a crash in between leaves
   * a snapshot without a record, whose size `usage()` reads from its qgroup once (under
   * simple quotas that misses what it inherited); the service removes layers of creations
   * a crash cut.
   */
  async snapshot(source: string, id: string): Promise<void> {
    await this.#layout.assertFree(id);
    const sourcePath = await this.#layout.livePath(source);
    const dest = this.#layout.entry("readonly", id);
    const record = await this.#accounting.clone({ source, sourcePath, dest, readOnly: true });
    await this.#records.set(id, record);
  }

  restore(
    id: string,
    snapshot: string,
    options: { capacityBytes?: number | undefined } = {},
  ): Promise<void> {
    return restoreLayer(this.#store, {
      id,
      snapshot,
      copy: async (source, entry, pending) => {
        const record = await this.#accounting.clone({
          source: snapshot,
          sourcePath: source,
          dest: entry,
          readOnly: false,
        });
        await this.#records.set(pending, record);
        if (options.capacityBytes !== undefined)
          await this.#accounting.limit(entry, options.capacityBytes, pending);
      },
    });
  }

  async setCapacity(id: string, bytes: number | null): Promise<void> {
    await this.#accounting.limit(await this.#layout.writableEntry(id), bytes, id);
  }

  async trash(id: string): Promise<void> {
    await rename(await this.#layout.writableEntry(id), this.#layout.entry("trash", id));
  }

  async remove(id: string): Promise<void> {
    const state = await this.#layout.stateOf(id);
    if (state !== null) await this.#deleteTree(this.#layout.entry(state, id));
    await this.#records.remove(id);
  }

  #deleteTree(path: string): Promise<void> {
    return deleteSubvolumeTree(this.#helper, { root: this.#layout.root, path });
  }

  async diff(
    base: string,
    target: string,
    options: { limit?: number | undefined } = {},
  ): Promise<LayerDiff> {
    const basePath = await this.#layout.readOnlyPath(base);
    const targetPath = await this.#layout.readOnlyPath(target);
    return diffSubvolumes(basePath, targetPath, options);
  }

  async usage(ids: readonly string[]): Promise<Map<string, LayerUsage>> {
    const layers: MeasuredLayer[] = [];
    for (const id of new Set(ids)) {
      const state = await this.#layout.liveState(id);
      if (state !== null)
        layers.push({ id, path: this.#layout.files(state, id), readOnly: state === "readonly" });
    }
    return this.#accounting.usage(layers);
  }

  async cleanup(): Promise<string[]> {
    const removed = await cleanupLayers(this.#store);
    // Deleted subvolumes leave their level-0 qgroups behind.
    await run(btrfs.qgroupClearStale(this.#layout.root)).catch((e: unknown) => {
      if (!(e instanceof ExecError)) throw e;
    });
    return removed;
  }

  async capacity(): Promise<{ totalBytes: number; freeBytes: number }> {
    const s = await statfs(this.#layout.root);
    return { totalBytes: s.blocks * s.bsize, freeBytes: s.bavail * s.bsize };
  }
}
