import { spawn } from "node:child_process";
import { once } from "node:events";
import { constants, type Dirent } from "node:fs";
import { access, chown, lstat, mkdir, readdir, rename, statfs } from "node:fs/promises";
import { basename, join } from "node:path";
import { createInterface } from "node:readline";
import { ExecError, run } from "../../lib/exec.ts";
import { restrictToGroup, unmountBelow } from "../../lib/mounts.ts";
import {
  assertLayerId,
  type CreateOptions,
  type LayerDiff,
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
import { InheritedSizes } from "./inherited.ts";
import { parseQgroupShow, parseSubvolumeList, type SubvolumeRow } from "./parse.ts";
import { finishDiff, SendDumpReader } from "./send-dump.ts";

const STATES: readonly LayerState[] = ["writable", "readonly", "tmp", "trash"];
/**
 * Suffixes of a restore's two internal entries: `tmp/<id>@restore` holds the new content
 * until it is renamed into place, `trash/<id>@replaced` the old content until it is
 * deleted. `@` is never part of a layer id, so they cannot clash with a layer.
 */
const RESTORING = "@restore";
const REPLACED = "@replaced";
/** How many paths under moved folders `diff()` lists before it gives up (truncated). */
const MOVED_WALK_CAP = 100_000;

/**
 * How a pool's qgroups count. `simple` (btrfs simple quotas, Linux 6.7+): a subvolume counts
 * the extents it wrote itself, which keeps a snapshot's commit as cheap as without quotas.
 * `full`: a subvolume counts everything it references, and every snapshot costs a second
 * commit that accounts shared extents (27–85 ms here, against 6–15 ms).
 */
export type QuotaMode = "simple" | "full";

/**
 * Layers as btrfs subvolumes under `<root>/{writable,readonly,tmp,trash}/<id>`, sizes and
 * limits from qgroups. A new pool gets simple quotas; a pool whose quotas are already on
 * keeps its mode. Under simple quotas the driver records what each clone inherited
 * ({@link InheritedSizes}), so that sizes and capacities still cover a layer's whole
 * content. Writable layers are made in `tmp/` and renamed into place, because
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
  /** What each layer inherited; null under full quotas, where qgroups count it already. */
  readonly #inherited: InheritedSizes | null;
  readonly quotaMode: QuotaMode;

  private constructor(root: string, helper: BtrfsHelper, inherited: InheritedSizes | null) {
    this.#root = root;
    this.#rootName = basename(root);
    this.#helper = helper;
    this.#inherited = inherited;
    this.quotaMode = inherited ? "simple" : "full";
  }

  /**
   * Opens (creating the folders of) a driver rooted at `root`, which must be on btrfs, and
   * turns the filesystem's quotas on: simple quotas when the kernel has them and quotas were
   * off, else whatever mode is in force. `accessGid` may traverse to live layers (not list
   * them); tmp, trash and the inherited sizes stay root's alone.
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
    const helper = new BtrfsHelper({ path: helperPath });
    const mode = await enableQuotas(helper, root).catch(async (err: unknown) => {
      await helper.close();
      throw err;
    });
    const inherited = mode === "simple" ? await InheritedSizes.load(join(root, "meta")) : null;
    return new BtrfsDriver(root, helper, inherited);
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

  pathOf(id: string): Promise<string> {
    return this.#livePath(id);
  }

  async has(id: string): Promise<boolean> {
    const state = await this.#stateOf(id);
    return state === "writable" || state === "readonly";
  }

  async create(id: string, options: CreateOptions = {}): Promise<void> {
    if ((await this.#stateOf(id)) !== null) throw new LayerExistsError(id);
    const tmp = this.#at("tmp", id);
    let inherited = 0;
    if (options.from !== undefined) {
      inherited = await this.#clone(options.from, await this.#livePath(options.from), tmp, false);
    } else {
      await this.#helper.call("subvol", [tmp]);
      if (options.owner) await chown(tmp, options.owner.uid, options.owner.gid);
    }
    try {
      // Recorded before the layer is in place; cleanup() drops it with a half-made layer.
      await this.#inherited?.set(id, inherited);
      if (options.capacityBytes !== undefined) await this.#limit(tmp, options.capacityBytes, id);
      await rename(tmp, this.#at("writable", id));
    } catch (err) {
      await this.#inherited?.remove(id).catch(() => {});
      await this.#deleteTree(tmp).catch(() => {});
      throw err;
    }
  }

  /**
   * A read-only snapshot. Under simple quotas its size is recorded just after the ioctl: a
   * crash in between leaves a snapshot whose size reads as what it wrote itself (nothing),
   * which only misstates the figure; the service removes layers of creations a crash cut.
   */
  async snapshot(source: string, id: string): Promise<void> {
    if ((await this.#stateOf(id)) !== null) throw new LayerExistsError(id);
    const dest = this.#at("readonly", id);
    const inherited = await this.#clone(source, await this.#livePath(source), dest, true);
    await this.#inherited?.set(id, inherited);
  }

  /**
   * Snapshots `source` (at `sourcePath`) to `dest` and returns what `dest` inherits under
   * simple quotas: what the source inherited plus what its qgroup counted at the snapshot's
   * commit (0 under full quotas, where nothing is recorded).
   */
  async #clone(source: string, sourcePath: string, dest: string, readOnly: boolean) {
    const counted = await this.#helper.call("snap", [sourcePath, dest, readOnly ? "1" : "0"]);
    if (!this.#inherited) return 0;
    return this.#inherited.get(source) + (Number(counted) || 0);
  }

  /**
   * Sets the qgroup limit of the subvolume at `path` so that the layer `name` holds at most
   * `capacity` bytes in all: under simple quotas the qgroup counts only what the layer
   * writes, so what it inherited comes off (down to zero: such a layer is full at once,
   * as it would be under full quotas).
   */
  async #limit(path: string, capacity: number | null, name: string): Promise<void> {
    const bytes =
      capacity === null
        ? "none"
        : String(Math.max(0, capacity - (this.#inherited?.get(name) ?? 0)));
    await this.#helper.call("limit", [path, bytes]);
  }

  /**
   * Four steps, each leaving a state `cleanup()` can tell apart: (1) a writable snapshot of
   * `snapshot` with the capacity in `tmp/<id>@restore`; (2) the live layer renamed to
   * `trash/<id>@replaced`; (3) the new one renamed into place; (4) the old one deleted.
   * A crash after (1) is undone (the restore never happened); after (2) it is finished.
   */
  async restore(
    id: string,
    snapshot: string,
    options: { capacityBytes?: number | undefined } = {},
  ): Promise<void> {
    const live = this.#at("writable", id);
    if (!(await exists(live))) throw new LayerNotFoundError(id);
    const source = this.#at("readonly", snapshot);
    if (!(await exists(source))) {
      if (await this.has(snapshot))
        throw new Error(`Layer ${JSON.stringify(snapshot)} is not read-only`);
      throw new LayerNotFoundError(snapshot);
    }
    const next = join(this.#root, "tmp", `${id}${RESTORING}`);
    const old = join(this.#root, "trash", `${id}${REPLACED}`);
    // Leftovers of an earlier attempt that failed without a crash (cleanup runs only at
    // start); with the live layer in place, neither holds anything that is still needed.
    for (const leftover of [next, old]) {
      if (await exists(leftover)) await this.#deleteTree(leftover);
    }
    // The new content's inherited size goes under the internal name until the swap is done;
    // on failure it is dropped before the new content, which cleanup() relies on.
    const pending = `${id}${RESTORING}`;
    const dropNext = async () => {
      await this.#inherited?.remove(pending).catch(() => {});
      await this.#deleteTree(next).catch(() => {});
    };
    await this.#inherited?.remove(pending);
    const inherited = await this.#clone(snapshot, source, next, false);
    try {
      await this.#inherited?.set(pending, inherited);
      if (options.capacityBytes !== undefined)
        await this.#limit(next, options.capacityBytes, pending);
      await rename(live, old);
    } catch (err) {
      await dropNext();
      throw err;
    }
    try {
      await rename(next, live);
    } catch (err) {
      await rename(old, live).catch(() => {}); // else cleanup() puts it back on the next start
      await dropNext();
      throw err;
    }
    // The restore is done; what is not settled now (a crash) is settled by cleanup().
    await this.#inherited?.move(pending, id).catch(() => {});
    await this.#deleteTree(old).catch(() => {});
  }

  async setCapacity(id: string, bytes: number | null): Promise<void> {
    const path = this.#at("writable", id);
    if (!(await exists(path))) throw new LayerNotFoundError(id);
    await this.#limit(path, bytes, id);
  }

  async trash(id: string): Promise<void> {
    const path = this.#at("writable", id);
    if (!(await exists(path))) throw new LayerNotFoundError(id);
    await rename(path, this.#at("trash", id));
  }

  async remove(id: string): Promise<void> {
    const state = await this.#stateOf(id);
    if (state !== null) await this.#deleteTree(this.#at(state, id));
    await this.#inherited?.remove(id);
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
      for (const id of await readdir(join(this.#root, state))) {
        // A restore's internal entries are not layers; cleanup() settles them.
        if (!id.includes("@")) out.push({ id, state });
      }
    }
    return out;
  }

  async diff(
    base: string,
    target: string,
    options: { limit?: number | undefined } = {},
  ): Promise<LayerDiff> {
    const basePath = await this.#readOnlyPath(base);
    const targetPath = await this.#readOnlyPath(target);
    const reader = new SendDumpReader();
    await sendDump(basePath, targetPath, (line) => reader.push(line));
    const changes = reader.changes();
    // The stream names a moved folder once; list what is under it on both sides.
    const movedRemoved: string[] = [];
    const movedAdded: string[] = [];
    let budget = MOVED_WALK_CAP;
    for (const m of changes.moved) {
      budget -= await walk(basePath, m.from, movedRemoved, budget);
      budget -= await walk(targetPath, m.to, movedAdded, budget);
    }
    const result = finishDiff(
      changes,
      { removed: movedRemoved, added: movedAdded },
      options.limit ?? Number.POSITIVE_INFINITY,
    );
    return { ...result, truncated: result.truncated || budget <= 0 };
  }

  async #readOnlyPath(id: string): Promise<string> {
    const path = this.#at("readonly", id);
    if (await exists(path)) return path;
    if (await this.has(id)) throw new Error(`Layer ${JSON.stringify(id)} is not read-only`);
    throw new LayerNotFoundError(id);
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
      if (!m || !q) continue;
      // Under simple quotas the qgroup counts what the layer wrote; add what it inherited.
      const inherited = this.#inherited?.get(m[2]!) ?? 0;
      result.set(m[2]!, {
        referencedBytes: inherited + q.referenced,
        exclusiveBytes: q.exclusive,
      });
    }
    return result;
  }

  async cleanup(): Promise<string[]> {
    const removed: string[] = [];
    for (const name of await readdir(join(this.#root, "tmp"))) {
      const path = join(this.#root, "tmp", name);
      if (name.endsWith(RESTORING)) {
        const id = name.slice(0, -RESTORING.length);
        const replaced = join(this.#root, "trash", `${id}${REPLACED}`);
        // Past step 2 the old content is out of place and the new one complete: finish.
        if (!(await exists(this.#at("writable", id))) && (await exists(replaced))) {
          await rename(path, this.#at("writable", id));
          await this.#inherited?.move(name, id);
          continue;
        }
      }
      await this.#inherited?.remove(name);
      await this.#deleteTree(path);
      removed.push(name);
    }
    for (const name of await readdir(join(this.#root, "trash"))) {
      if (!name.endsWith(REPLACED)) continue;
      const id = name.slice(0, -REPLACED.length);
      const path = join(this.#root, "trash", name);
      // The new content never arrived (it cannot be elsewhere after the loop above): undo.
      if (!(await exists(this.#at("writable", id)))) await rename(path, this.#at("writable", id));
      else {
        await this.#deleteTree(path);
        removed.push(name);
      }
    }
    await this.#settleInherited();
    // Deleted subvolumes leave their level-0 qgroups behind.
    await run(btrfs.qgroupClearStale(this.#root)).catch((e: unknown) => {
      if (!(e instanceof ExecError)) throw e;
    });
    return removed;
  }

  /**
   * Inherited sizes after a crash: a restore's pending figure left without its `tmp` entry
   * belongs to a restore that got its new content in place (a failed one drops the figure
   * first); a figure with no layer in any state belongs to a creation that was cut.
   */
  async #settleInherited(): Promise<void> {
    const sizes = this.#inherited;
    if (!sizes) return;
    for (const name of sizes.names()) {
      if (name.endsWith(RESTORING)) {
        const id = name.slice(0, -RESTORING.length);
        if (await exists(this.#at("writable", id))) await sizes.move(name, id);
        else await sizes.remove(name);
      } else if ((await this.#stateOf(name)) === null) await sizes.remove(name);
    }
  }

  async capacity(): Promise<{ totalBytes: number; freeBytes: number }> {
    const s = await statfs(this.#root);
    return { totalBytes: s.blocks * s.bsize, freeBytes: s.bavail * s.bsize };
  }
}

/**
 * Turns quotas on for the filesystem of `root`, simple ones where the kernel has them, and
 * returns the mode in force (a filesystem whose quotas are on keeps its mode).
 */
export async function enableQuotas(
  helper: Pick<BtrfsHelper, "call">,
  root: string,
): Promise<QuotaMode> {
  const mode = await helper.call("quota", [root, "simple"]).catch((err: unknown) => {
    // A kernel before 6.7 does not know simple quotas.
    if (err instanceof BtrfsHelperError && err.code === "EINVAL")
      return helper.call("quota", [root, "full"]);
    throw err;
  });
  return mode === "squota" ? "simple" : "full";
}

/**
 * Runs `btrfs send --no-data -p <base> <target> | btrfs receive --dump` without a shell
 * and hands each dump line to `onLine`, so memory stays O(changes).
 */
async function sendDump(base: string, target: string, onLine: (line: string) => void) {
  const send = spawn("btrfs", ["send", "--quiet", "--no-data", "-p", base, target], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, LC_ALL: "C" },
  });
  const dump = spawn("btrfs", ["receive", "--dump"], {
    stdio: [send.stdout, "pipe", "pipe"],
    env: { ...process.env, LC_ALL: "C" },
  });
  // The child has its own copy now; ours would never be read, and would keep `send` from closing.
  send.stdout.destroy();
  const errors: string[] = [];
  send.stderr.on("data", (b: Buffer) => errors.push(b.toString()));
  dump.stderr.on("data", (b: Buffer) => errors.push(b.toString()));
  const codes = Promise.all([
    once(send, "close").then(([code]) => code as number | null),
    once(dump, "close").then(([code]) => code as number | null),
  ]);
  let failure: unknown;
  for await (const line of createInterface({ input: dump.stdout, crlfDelay: Infinity })) {
    if (failure !== undefined) continue;
    try {
      onLine(line);
    } catch (err) {
      failure = err;
      send.kill();
    }
  }
  const [sendCode, dumpCode] = await codes;
  if (failure !== undefined) throw failure;
  if (sendCode !== 0 || dumpCode !== 0) {
    throw new ExecError(
      ["btrfs", "send", "--no-data", "-p", base, target, "|", "btrfs", "receive", "--dump"],
      sendCode !== 0 ? sendCode : dumpCode,
      errors.join(""),
    );
  }
}

/**
 * Appends the paths under `rel` in the tree at `root` (relative, `a/b`) to `out`, at most
 * `budget` of them; returns how many it added. Never follows symlinks: `readdir` reports
 * each entry's own type, and only real directories are entered.
 */
async function walk(root: string, rel: string, out: string[], budget: number): Promise<number> {
  // A moved symlink to a host folder must not be listed through: only a real folder, reached
  // through real folders, is walked.
  const parts = rel.split("/");
  for (let i = 1; i <= parts.length; i++) {
    const s = await lstat(join(root, ...parts.slice(0, i))).catch(() => null);
    if (!s?.isDirectory()) return 0;
  }
  let added = 0;
  const queue = [rel];
  while (queue.length && added < budget) {
    const dir = queue.pop()!;
    let entries: Dirent[];
    try {
      entries = await readdir(join(root, dir), { withFileTypes: true });
    } catch {
      continue; // unreadable: nothing to list below it
    }
    for (const e of entries) {
      const path = `${dir}/${e.name}`;
      out.push(path);
      if (++added >= budget) break;
      if (e.isDirectory()) queue.push(path);
    }
  }
  return added;
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
