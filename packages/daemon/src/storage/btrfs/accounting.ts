import type { LayerUsage } from "../driver.ts";
import type { LayerRecord, LayerRecords } from "../layer-records.ts";
import { type BtrfsHelper, BtrfsHelperError } from "./helper.ts";
import {
  batchArgs,
  parseSnapValue,
  parseUsageValue,
  type QgroupFigures,
} from "./helper-protocol.ts";

/**
 * How a pool's qgroups count. `simple` (btrfs simple quotas, Linux 6.7+): a subvolume counts
 * the extents it wrote itself, which keeps a snapshot's commit as cheap as without quotas.
 * `full`: a subvolume counts everything it references, and every snapshot costs a second
 * commit that accounts shared extents (27–85 ms here, against 6–15 ms).
 */
export type QuotaMode = "simple" | "full";

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

/** A live layer whose usage is asked for. */
export interface MeasuredLayer {
  id: string;
  /** Its subvolume. */
  path: string;
  readOnly: boolean;
}

/**
 * Sizes and limits of layers from their qgroups, with the figures qgroups cannot give
 * kept in the layers' records:
 *
 * - Under simple quotas a subvolume's qgroup counts only what the subvolume wrote itself:
 *   a fresh clone counts zero. Each clone records what it inherited (its source's
 *   inherited bytes plus what the source's qgroup counted at the clone's commit); its
 *   referenced bytes are that plus its qgroup's count, and a capacity becomes a qgroup
 *   limit of the capacity minus that. The figure is an upper bound: a layer that deletes
 *   or rewrites inherited files still counts them, since the layer they came from holds
 *   them on disk anyway.
 * - A read-only layer records its referenced bytes when it is made (under simple quotas
 *   its exclusive bytes too, which never change: it writes nothing), and is answered from
 *   that record. Under full quotas its exclusive bytes grow as the layers it shares data
 *   with diverge, so they are read from its qgroup.
 *
 * Qgroup figures are updated at transaction commit, so a measure commits first (one
 * `BTRFS_IOC_SYNC`, which also writes out the pool's dirty data): the figures then count
 * every write that completed before the call. A call that only asks for read-only layers
 * under simple quotas touches neither the filesystem nor the helper.
 */
export class QgroupAccounting {
  readonly mode: QuotaMode;
  readonly #helper: Pick<BtrfsHelper, "call">;
  readonly #records: LayerRecords;
  readonly #root: string;

  constructor(options: {
    helper: Pick<BtrfsHelper, "call">;
    records: LayerRecords;
    mode: QuotaMode;
    /** The pool root, whose filesystem is committed before a measure. */
    root: string;
  }) {
    this.mode = options.mode;
    this.#helper = options.helper;
    this.#records = options.records;
    this.#root = options.root;
  }

  /**
   * Snapshots the layer `source` (its subvolume at `sourcePath`) to `dest` and returns the
   * record the new layer gets: what it inherited, and for a read-only layer its size.
   */
  async clone(options: {
    source: string;
    sourcePath: string;
    dest: string;
    readOnly: boolean;
  }): Promise<LayerRecord> {
    const value = await this.#helper.call("snap", [
      options.sourcePath,
      options.dest,
      options.readOnly ? "1" : "0",
    ]);
    const counted = parseSnapValue(value);
    if (this.mode === "full")
      return options.readOnly ? { referencedBytes: counted.dest.referenced } : {};
    const inheritedBytes = this.#inherited(options.source) + counted.source;
    if (!options.readOnly) return { inheritedBytes };
    return {
      inheritedBytes,
      referencedBytes: inheritedBytes + counted.dest.referenced,
      exclusiveBytes: counted.dest.exclusive,
    };
  }

  /**
   * Sets the qgroup limit of the subvolume at `path` so that the layer recorded as `name`
   * holds at most `capacity` bytes in all: under simple quotas what it inherited comes off
   * (down to zero: such a layer is full at once, as it would be under full quotas).
   */
  async limit(path: string, capacity: number | null, name: string): Promise<void> {
    const bytes =
      capacity === null ? "none" : String(Math.max(0, capacity - this.#inherited(name)));
    await this.#helper.call("limit", [path, bytes]);
  }

  /** The usage of live layers; a layer whose subvolume is gone meanwhile is left out. */
  async usage(layers: readonly MeasuredLayer[]): Promise<Map<string, LayerUsage>> {
    const out = new Map<string, LayerUsage>();
    const measured: MeasuredLayer[] = [];
    for (const layer of layers) {
      const recorded = layer.readOnly ? this.#recorded(layer.id) : null;
      if (recorded) out.set(layer.id, recorded);
      else measured.push(layer);
    }
    if (measured.length === 0) return out;
    // Without a commit, a file written a moment ago would not count yet.
    await this.#helper.call("sync", [this.#root]);
    const figures = await this.#figures(measured.map((l) => l.path));
    for (const [i, layer] of measured.entries()) {
      const f = figures[i];
      if (!f) continue;
      const usage = this.#fromFigures(layer, f);
      out.set(layer.id, usage);
      // A read-only layer made before sizes were recorded gets its record now, once.
      if (layer.readOnly && this.#records.get(layer.id).referencedBytes === undefined) {
        const fields: LayerRecord =
          this.mode === "simple" ? { ...usage } : { referencedBytes: usage.referencedBytes };
        await this.#records.update(layer.id, fields).catch(() => {});
      }
    }
    return out;
  }

  #fromFigures(layer: MeasuredLayer, f: QgroupFigures): LayerUsage {
    const record = this.#records.get(layer.id);
    const referencedBytes =
      layer.readOnly && record.referencedBytes !== undefined
        ? record.referencedBytes
        : this.#inherited(layer.id) + f.referenced;
    return { referencedBytes, exclusiveBytes: f.exclusive };
  }

  /** A read-only layer's usage when its record holds all of it. */
  #recorded(id: string): LayerUsage | null {
    const { referencedBytes, exclusiveBytes } = this.#records.get(id);
    if (this.mode !== "simple" || referencedBytes === undefined || exclusiveBytes === undefined)
      return null;
    return { referencedBytes, exclusiveBytes };
  }

  #inherited(name: string): number {
    return this.mode === "simple" ? (this.#records.get(name).inheritedBytes ?? 0) : 0;
  }

  async #figures(paths: readonly string[]): Promise<(QgroupFigures | null)[]> {
    const out: (QgroupFigures | null)[] = [];
    for (const batch of batchArgs("usage", paths)) {
      out.push(...parseUsageValue(await this.#helper.call("usage", batch), batch.length));
    }
    return out;
  }
}
