import { chown, mkdir, rename, statfs } from "node:fs/promises";
import {
  type CreateOptions,
  type LayerDiff,
  type LayerEntry,
  LayerExistsError,
  type LayerUsage,
  type StorageDriver,
  type StorageInfo,
} from "../driver.ts";
import { LayerRecords } from "../layer-records.ts";
import { LayerLayout } from "../layout.ts";
import { cleanupLayers, type LayerStore, restoreLayer } from "../restore.ts";
import { diffTrees } from "./diff.ts";
import { copyTree, freezeTree, removeTree, treeBytes } from "./tree.ts";

/** The folder inside each entry that holds the layer's files. */
const CONTENT = "fs";

/**
 * Layers as plain folders, for hosts (and tests) without btrfs: it runs as root or as an
 * ordinary user, on any filesystem. It declares no quotas (a capacity is accepted and not
 * enforced) and no cheap clones: `create({from})`, `snapshot()` and `restore()` copy the
 * whole tree (sharing data only where the filesystem has reflinks), and `diff()` walks both
 * trees.
 *
 * Each layer is an entry `<root>/<state>/<id>/` that the driver owns, with the layer's
 * files in `fs/` inside it, so that renaming an entry never depends on the modes or flags
 * the layer's content gives its top folder. Creation copies into `tmp/` and renames into
 * place; `trash()` is a rename; restore and cleanup follow the shared crash-safe protocol
 * (restore.ts). Copies keep modes, times, hard links, symlinks as symlinks (never
 * followed), fifos, extended attributes, and owners where the process may set them.
 *
 * Read-only layers are kept read-only as far as the process can: as root, every file and
 * folder gets the immutable flag (where the filesystem has it), so writes fail with EPERM
 * even for root; as an ordinary user they are read-only by convention only.
 *
 * A layer's size is what `du` counts (allocated bytes, each inode once), the same figure
 * for referenced and exclusive bytes since copies share nothing. A read-only layer's size
 * is measured once, when it is made, and kept in its record; a writable layer's is measured
 * on each `usage()`, O(files).
 */
export class DirDriver implements StorageDriver {
  static readonly info: StorageInfo = { name: "dir", quotas: false, cheapClone: false };
  readonly info: StorageInfo = DirDriver.info;
  readonly #layout: LayerLayout;
  readonly #records: LayerRecords;
  readonly #store: LayerStore;

  private constructor(layout: LayerLayout, records: LayerRecords) {
    this.#layout = layout;
    this.#records = records;
    this.#store = { layout, records, deleteEntry: removeTree };
  }

  /** Opens (creating the folders of) a driver rooted at the folder `root`. */
  static async open(root: string): Promise<DirDriver> {
    const layout = new LayerLayout(root, { contentDir: CONTENT });
    await layout.prepare();
    return new DirDriver(layout, await LayerRecords.load(layout.metaDir));
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
    const source = options.from === undefined ? null : await this.#layout.livePath(options.from);
    const tmp = await this.#newEntry(id);
    try {
      const files = this.#layout.contentOf(tmp);
      if (source !== null) await copyTree(source, files);
      else {
        await mkdir(files, { mode: 0o755 });
        if (options.owner) await chownWherePermitted(files, options.owner);
      }
      await rename(tmp, this.#layout.entry("writable", id));
    } catch (err) {
      await removeTree(tmp).catch(() => {});
      throw err;
    }
  }

  /** A read-only copy, measured and frozen in `tmp/` before it is renamed into place. */
  async snapshot(source: string, id: string): Promise<void> {
    await this.#layout.assertFree(id);
    const sourcePath = await this.#layout.livePath(source);
    const tmp = await this.#newEntry(id);
    try {
      const files = this.#layout.contentOf(tmp);
      await copyTree(sourcePath, files);
      const bytes = await treeBytes(files);
      // Recorded before the layer is in place; cleanup() drops it with a half-made layer.
      await this.#records.set(id, { referencedBytes: bytes, exclusiveBytes: bytes });
      await freezeTree(files);
      await rename(tmp, this.#layout.entry("readonly", id));
    } catch (err) {
      await this.#records.remove(id).catch(() => {});
      await removeTree(tmp).catch(() => {});
      throw err;
    }
  }

  restore(
    id: string,
    snapshot: string,
    _options: { capacityBytes?: number | undefined } = {},
  ): Promise<void> {
    return restoreLayer(this.#store, {
      id,
      snapshot,
      copy: async (source, entry) => {
        await mkdir(entry, { mode: 0o700 });
        await copyTree(source, this.#layout.contentOf(entry));
      },
    });
  }

  /** Without quotas a capacity is not enforced: this only checks that the layer exists. */
  async setCapacity(id: string, _bytes: number | null): Promise<void> {
    await this.#layout.writableEntry(id);
  }

  async trash(id: string): Promise<void> {
    await rename(await this.#layout.writableEntry(id), this.#layout.entry("trash", id));
  }

  async remove(id: string): Promise<void> {
    const state = await this.#layout.stateOf(id);
    if (state !== null) await removeTree(this.#layout.entry(state, id));
    await this.#records.remove(id);
  }

  async diff(
    base: string,
    target: string,
    options: { limit?: number | undefined } = {},
  ): Promise<LayerDiff> {
    const basePath = await this.#layout.readOnlyPath(base);
    const targetPath = await this.#layout.readOnlyPath(target);
    return diffTrees(basePath, targetPath, options);
  }

  async usage(ids: readonly string[]): Promise<Map<string, LayerUsage>> {
    const out = new Map<string, LayerUsage>();
    for (const id of new Set(ids)) {
      const state = await this.#layout.liveState(id);
      if (state === null) continue;
      const recorded = this.#records.get(id).referencedBytes;
      if (state === "readonly" && recorded !== undefined) {
        out.set(id, { referencedBytes: recorded, exclusiveBytes: recorded });
        continue;
      }
      let bytes: number;
      try {
        bytes = await treeBytes(this.#layout.files(state, id));
      } catch (err) {
        // Trashed or removed meanwhile: absent, like any id of no live layer.
        if ((await this.#layout.liveState(id)) === null) continue;
        throw err;
      }
      out.set(id, { referencedBytes: bytes, exclusiveBytes: bytes });
      // A read-only layer whose record a crash lost is measured once more, and recorded.
      if (state === "readonly")
        await this.#records.set(id, { referencedBytes: bytes, exclusiveBytes: bytes });
    }
    return out;
  }

  cleanup(): Promise<string[]> {
    return cleanupLayers(this.#store);
  }

  async capacity(): Promise<{ totalBytes: number; freeBytes: number }> {
    const s = await statfs(this.#layout.root);
    return { totalBytes: s.blocks * s.bsize, freeBytes: s.bavail * s.bsize };
  }

  /** Makes the entry `tmp/<id>`; a concurrent creation of the same id fails here. */
  async #newEntry(id: string): Promise<string> {
    const tmp = this.#layout.entry("tmp", id);
    await mkdir(tmp, { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
      throw err.code === "EEXIST" ? new LayerExistsError(id) : err;
    });
    return tmp;
  }
}

/** Sets the owner where the process may (root); an ordinary user keeps its own. */
async function chownWherePermitted(
  path: string,
  owner: { uid: number; gid: number },
): Promise<void> {
  await chown(path, owner.uid, owner.gid).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== "EPERM") throw err;
  });
}
