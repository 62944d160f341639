import { lstat, mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import {
  assertLayerId,
  type LayerEntry,
  LayerExistsError,
  LayerNotFoundError,
  type LayerState,
} from "./driver.ts";

export const LAYER_STATES: readonly LayerState[] = ["writable", "readonly", "tmp", "trash"];

/**
 * Suffixes of a restore's two internal entries: `tmp/<id>@restore` holds the new content
 * until it is renamed into place, `trash/<id>@replaced` the old content until it is
 * deleted. `@` is never part of a layer id, so they cannot clash with a layer.
 */
export const RESTORING = "@restore";
export const REPLACED = "@replaced";

/**
 * Where a driver keeps its layers: one folder per state under the root, and in it one
 * **entry** per layer, `<root>/<state>/<id>`, which is what the driver creates, renames
 * from state to state and deletes as one. A layer's files are the entry itself (a btrfs
 * subvolume), or a folder inside it (`contentDir`) when the entry must stay a plain folder
 * the driver owns whatever the layer's content does with its top folder's mode or flags.
 * Records of the layers (see layer-records.ts) live in `<root>/meta`.
 */
export class LayerLayout {
  readonly root: string;
  readonly #contentDir: string | null;

  constructor(root: string, options: { contentDir?: string } = {}) {
    this.root = root;
    this.#contentDir = options.contentDir ?? null;
  }

  /** Makes the state folders (mode 0700) if they are missing. */
  async prepare(): Promise<void> {
    for (const s of LAYER_STATES) await mkdir(this.stateDir(s), { recursive: true, mode: 0o700 });
  }

  stateDir(state: LayerState): string {
    return join(this.root, state);
  }

  /** Where the records of the layers are. */
  get metaDir(): string {
    return join(this.root, "meta");
  }

  /** The entry of layer `id` in `state`. */
  entry(state: LayerState, id: string): string {
    assertLayerId(id);
    return join(this.root, state, id);
  }

  /** The entry of an internal name (`<id>@restore`, or a leftover found in a listing). */
  internalEntry(state: LayerState, name: string): string {
    if (name.includes("/") || name === "" || name === "." || name === "..")
      throw new Error(`Invalid entry name ${JSON.stringify(name)}`);
    return join(this.root, state, name);
  }

  /** Where the files of an entry are. */
  contentOf(entry: string): string {
    return this.#contentDir === null ? entry : join(entry, this.#contentDir);
  }

  /** Where the files of layer `id` are while it is in `state`. */
  files(state: LayerState, id: string): string {
    return this.contentOf(this.entry(state, id));
  }

  async stateOf(id: string): Promise<LayerState | null> {
    for (const s of LAYER_STATES) {
      if (await exists(this.entry(s, id))) return s;
    }
    return null;
  }

  /** `writable` or `readonly` for a live layer, else null (trashed, half-made, unknown). */
  async liveState(id: string): Promise<"writable" | "readonly" | null> {
    const state = await this.stateOf(id);
    return state === "writable" || state === "readonly" ? state : null;
  }

  /** Fails with `LayerExistsError` when `id` names an entry in any state. */
  async assertFree(id: string): Promise<void> {
    if ((await this.stateOf(id)) !== null) throw new LayerExistsError(id);
  }

  /** The files of a live layer; fails with `LayerNotFoundError` when there is none. */
  async livePath(id: string): Promise<string> {
    const state = await this.liveState(id);
    if (state === null) throw new LayerNotFoundError(id);
    return this.files(state, id);
  }

  /** The entry of a writable layer; fails with `LayerNotFoundError` when there is none. */
  async writableEntry(id: string): Promise<string> {
    const entry = this.entry("writable", id);
    if (!(await exists(entry))) throw new LayerNotFoundError(id);
    return entry;
  }

  /**
   * The files of a read-only layer; fails with `LayerNotFoundError` when there is no such
   * live layer, and with a plain error when the layer is writable.
   */
  async readOnlyPath(id: string): Promise<string> {
    const entry = this.entry("readonly", id);
    if (await exists(entry)) return this.contentOf(entry);
    if ((await this.liveState(id)) !== null)
      throw new Error(`Layer ${JSON.stringify(id)} is not read-only`);
    throw new LayerNotFoundError(id);
  }

  /** Every entry with its state; a restore's internal entries are not layers. */
  async list(): Promise<LayerEntry[]> {
    const out: LayerEntry[] = [];
    for (const state of LAYER_STATES) {
      for (const id of await readdir(this.stateDir(state))) {
        if (!id.includes("@")) out.push({ id, state });
      }
    }
    return out;
  }
}

export async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}
