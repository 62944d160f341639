import { constants } from "node:fs";
import { access, chown, lstat, mkdir, readdir, rename, statfs } from "node:fs/promises";
import { basename, join } from "node:path";
import { ExecError, run } from "../../lib/exec.ts";
import { restrictToGroup, unmountBelow } from "../../lib/mounts.ts";
import {
  assertLayerId,
  type CreateOptions,
  type LayerEntry,
  LayerExistsError,
  LayerNotFoundError,
  type LayerState,
  type LayerUsage,
  type StorageDriver,
  type StorageInfo,
} from "../driver.ts";
import { btrfs } from "./commands.ts";
import { BtrfsHelper, BtrfsHelperError, DEFAULT_HELPER_PATH } from "./helper.ts";
import { parseQgroupShow, parseSubvolumeList, type SubvolumeRow } from "./parse.ts";

const STATES: readonly LayerState[] = ["writable", "readonly", "tmp", "trash"];

/**
 * Layers as btrfs subvolumes under `<root>/{writable,readonly,tmp,trash}/<id>`, sizes and
 * limits from qgroups. Writable layers are made in `tmp/` and renamed into place, because
 * subvolume creation plus the qgroup limit is two steps; read-only snapshots are made at
 * their final path directly, since a snapshot ioctl is atomic and btrfs refuses to rename a
 * read-only subvolume to another directory (EROFS).
 *
 * Snapshots, creates, deletes and limits are ioctls run by the `strata-btrfs` co-process
 * ({@link BtrfsHelper}); listings and qgroup figures still come from btrfs-progs. Deletes do
 * not wait for a transaction commit: a delete lost in a crash brings back a layer nothing
 * owns, which the start-up reconcile removes.
 */
export class BtrfsDriver implements StorageDriver {
  readonly info: StorageInfo = { name: "btrfs", quotas: true, cheapClone: true };
  readonly #root: string;
  readonly #rootName: string;
  readonly #helper: BtrfsHelper;

  private constructor(root: string, helper: BtrfsHelper) {
    this.#root = root;
    this.#rootName = basename(root);
    this.#helper = helper;
  }

  /**
   * Opens (creating the folders of) a driver rooted at `root`, which must be on btrfs with
   * quotas enabled. `accessGid` may traverse to live layers (not list them); tmp and trash
   * stay root's alone.
   */
  static async open(
    root: string,
    options: { accessGid?: number; helperPath?: string } = {},
  ): Promise<BtrfsDriver> {
    for (const s of STATES) {
      await mkdir(join(root, s), { recursive: true, mode: 0o700 });
      if (options.accessGid !== undefined && (s === "writable" || s === "readonly")) {
        await restrictToGroup(join(root, s), options.accessGid);
      }
    }
    const helperPath = options.helperPath ?? DEFAULT_HELPER_PATH;
    await access(helperPath, constants.X_OK).catch(() => {
      throw new Error(
        `The btrfs helper is not built at ${helperPath}: run scripts/bootstrap.sh (or packages/btrfs-helper/build.sh)`,
      );
    });
    return new BtrfsDriver(root, new BtrfsHelper({ path: helperPath }));
  }

  /** Stops the helper co-process (it also dies with the daemon). */
  close(): Promise<void> {
    return this.#helper.close();
  }

  /** The helper's process id, while one runs (tests kill it to check recovery). */
  get helperPid(): number | undefined {
    return this.#helper.pid;
  }

  path(id: string): string {
    assertLayerId(id);
    return join(this.#root, "writable", id);
  }

  #at(state: LayerState, id: string): string {
    assertLayerId(id);
    return join(this.#root, state, id);
  }

  async #stateOf(id: string): Promise<LayerState | null> {
    for (const s of STATES) {
      if (await exists(this.#at(s, id))) return s;
    }
    return null;
  }

  async #livePath(id: string): Promise<string> {
    const state = await this.#stateOf(id);
    if (state !== "writable" && state !== "readonly") throw new LayerNotFoundError(id);
    return this.#at(state, id);
  }

  async has(id: string): Promise<boolean> {
    const state = await this.#stateOf(id);
    return state === "writable" || state === "readonly";
  }

  async create(id: string, options: CreateOptions = {}): Promise<void> {
    if ((await this.#stateOf(id)) !== null) throw new LayerExistsError(id);
    const tmp = this.#at("tmp", id);
    if (options.from !== undefined) {
      await this.#helper.call("snap", [await this.#livePath(options.from), tmp, "0"]);
    } else {
      await this.#helper.call("subvol", [tmp]);
      if (options.owner) await chown(tmp, options.owner.uid, options.owner.gid);
    }
    try {
      if (options.capacityBytes !== undefined)
        await this.#helper.call("limit", [tmp, String(options.capacityBytes)]);
      await rename(tmp, this.#at("writable", id));
    } catch (err) {
      await this.#deleteTree(tmp).catch(() => {});
      throw err;
    }
  }

  async snapshot(source: string, id: string): Promise<void> {
    if ((await this.#stateOf(id)) !== null) throw new LayerExistsError(id);
    await this.#helper.call("snap", [await this.#livePath(source), this.#at("readonly", id), "1"]);
  }

  async setCapacity(id: string, bytes: number | null): Promise<void> {
    const path = this.#at("writable", id);
    if (!(await exists(path))) throw new LayerNotFoundError(id);
    await this.#helper.call("limit", [path, bytes === null ? "none" : String(bytes)]);
  }

  async trash(id: string): Promise<void> {
    const path = this.#at("writable", id);
    if (!(await exists(path))) throw new LayerNotFoundError(id);
    await rename(path, this.#at("trash", id));
  }

  async remove(id: string): Promise<void> {
    const state = await this.#stateOf(id);
    if (state !== null) await this.#deleteTree(this.#at(state, id));
  }

  /**
   * Deletes a subvolume and any subvolumes nested in it, deepest first: code inside a
   * sandbox can create subvolumes (it only needs write access to a folder), and btrfs
   * refuses to delete a subvolume that still contains one.
   */
  async #deleteTree(path: string): Promise<void> {
    await unmountBelow(path);
    // The common case has nothing nested: one delete. Listing subvolumes costs an exec.
    const plain = await this.#helper.call("destroy", [path]).then(
      () => true,
      (err: unknown) => {
        if (err instanceof BtrfsHelperError && err.code === "ENOENT") return true;
        if (err instanceof BtrfsHelperError && err.code === "ENOTEMPTY") return false;
        throw err;
      },
    );
    if (plain) return;
    const rel = relativeTail(path);
    const nested = (await this.#subvolumes())
      .filter((s) => containsSegment(s.path, `${rel}/`))
      .sort((a, b) => b.path.length - a.path.length);
    for (const s of nested) {
      const idx = s.path.indexOf(`${rel}/`);
      const abs = join(path, s.path.slice(idx + rel.length + 1));
      await this.#helper.call("readonly", [abs, "0"]).catch(() => {});
      await this.#helper.call("destroy", [abs]);
    }
    await this.#helper.call("destroy", [path]);
  }

  async #subvolumes(): Promise<SubvolumeRow[]> {
    const { stdout } = await run(btrfs.subvolumeList(this.#root));
    return parseSubvolumeList(stdout);
  }

  async list(): Promise<LayerEntry[]> {
    const out: LayerEntry[] = [];
    for (const state of STATES) {
      for (const id of await readdir(join(this.#root, state))) out.push({ id, state });
    }
    return out;
  }

  async usage(): Promise<Map<string, LayerUsage>> {
    // qgroup numbers are updated at transaction commit; without a sync a file written a
    // moment ago would not be counted yet.
    await this.#helper.call("sync", [this.#root]);
    const [subvols, qgroups] = await Promise.all([
      this.#subvolumes(),
      run(btrfs.qgroupShow(this.#root)).then((r) => parseQgroupShow(r.stdout)),
    ]);
    const bySubvol = new Map(qgroups.map((q) => [q.subvolumeId, q]));
    const result = new Map<string, LayerUsage>();
    const re = new RegExp(`(?:^|/)${escapeRe(this.#rootName)}/(writable|readonly)/([a-z0-9_-]+)$`);
    for (const s of subvols) {
      const m = re.exec(s.path);
      const q = bySubvol.get(s.id);
      if (m && q) result.set(m[2]!, { referencedBytes: q.referenced, exclusiveBytes: q.exclusive });
    }
    return result;
  }

  async cleanup(): Promise<string[]> {
    const removed: string[] = [];
    for (const id of await readdir(join(this.#root, "tmp"))) {
      await this.#deleteTree(this.#at("tmp", id));
      removed.push(id);
    }
    // Deleted subvolumes leave their level-0 qgroups behind.
    await run(btrfs.qgroupClearStale(this.#root)).catch((e: unknown) => {
      if (!(e instanceof ExecError)) throw e;
    });
    return removed;
  }

  async capacity(): Promise<{ totalBytes: number; freeBytes: number }> {
    const s = await statfs(this.#root);
    return { totalBytes: s.blocks * s.bsize, freeBytes: s.bavail * s.bsize };
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** The last three components of a layer path (`<root-name>/<state>/<id>`), as `subvolume list` shows them. */
function relativeTail(path: string): string {
  return path.split("/").slice(-3).join("/");
}

function containsSegment(haystack: string, needle: string): boolean {
  return haystack.startsWith(needle) || haystack.includes(`/${needle}`);
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
