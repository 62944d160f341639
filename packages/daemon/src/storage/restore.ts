import { readdir, rename } from "node:fs/promises";
import { isLayerId } from "./driver.ts";
import type { LayerRecords } from "./layer-records.ts";
import { exists, type LayerLayout, REPLACED, RESTORING } from "./layout.ts";

/**
 * The crash-safe half of a driver's lifecycle, the same for every driver over a
 * {@link LayerLayout}: `restore()` and the `cleanup()` that finishes or undoes what a
 * crash interrupted. The driver brings its own way to delete an entry.
 */
export interface LayerStore {
  layout: LayerLayout;
  records: LayerRecords;
  /** Deletes an entry and everything in it; a missing entry is not an error. */
  deleteEntry(entry: string): Promise<void>;
}

export interface RestoreRequest {
  /** The writable layer whose content is replaced. */
  id: string;
  /** The read-only layer whose content it gets. */
  snapshot: string;
  /**
   * Makes `entry` (in `tmp/`, free) a writable copy of the files at `source`, with the
   * capacity asked for, and records under the internal name `pending` what the driver
   * keeps about it. On failure the protocol deletes the entry and the record.
   */
  copy(source: string, entry: string, pending: string): Promise<void>;
}

/**
 * Replaces the content of a writable layer with a copy of a read-only layer's, in four
 * steps, each leaving a state {@link cleanupLayers} can tell apart: (1) the copy in
 * `tmp/<id>@restore`; (2) the live entry renamed to `trash/<id>@replaced`; (3) the copy
 * renamed into place; (4) the old entry deleted. A crash after (1) is undone (the restore
 * never happened); after (2) it is finished.
 */
export async function restoreLayer(store: LayerStore, request: RestoreRequest): Promise<void> {
  const { layout, records } = store;
  const { id, snapshot } = request;
  const live = await layout.writableEntry(id);
  const source = await layout.readOnlyPath(snapshot);
  const pending = `${id}${RESTORING}`;
  const next = layout.internalEntry("tmp", pending);
  const old = layout.internalEntry("trash", `${id}${REPLACED}`);
  // Leftovers of an earlier attempt that failed without a crash (cleanup runs only at
  // start); with the live layer in place, neither holds anything that is still needed.
  for (const leftover of [next, old]) {
    if (await exists(leftover)) await store.deleteEntry(leftover);
  }
  // The copy's record goes under the internal name until the swap is done; on failure it
  // is dropped before the copy, which cleanupLayers() relies on.
  const dropNext = async () => {
    await records.remove(pending).catch(() => {});
    await store.deleteEntry(next).catch(() => {});
  };
  await records.remove(pending);
  try {
    await request.copy(source, next, pending);
    await rename(live, old);
  } catch (err) {
    await dropNext();
    throw err;
  }
  try {
    await rename(next, live);
  } catch (err) {
    await rename(old, live).catch(() => {}); // else cleanupLayers() puts it back on the next start
    await dropNext();
    throw err;
  }
  // The restore is done; what is not settled now (a crash) is settled by cleanupLayers().
  await records.move(pending, id).catch(() => {});
  await store.deleteEntry(old).catch(() => {});
}

/**
 * Removes leftovers of interrupted work and returns their names: `tmp` entries of cut
 * creations, and an interrupted restore's entries once it is finished or undone; then
 * drops records that belong to no layer.
 */
export async function cleanupLayers(store: LayerStore): Promise<string[]> {
  const { layout, records } = store;
  const removed: string[] = [];
  for (const name of await readdir(layout.stateDir("tmp"))) {
    const entry = layout.internalEntry("tmp", name);
    if (name.endsWith(RESTORING)) {
      const id = name.slice(0, -RESTORING.length);
      const live = layout.internalEntry("writable", id);
      // Past step 2 the old content is out of place and the new one complete: finish.
      if (!(await exists(live)) && (await exists(layout.internalEntry("trash", id + REPLACED)))) {
        await rename(entry, live);
        await records.move(name, id);
        continue;
      }
    }
    await records.remove(name);
    await store.deleteEntry(entry);
    removed.push(name);
  }
  for (const name of await readdir(layout.stateDir("trash"))) {
    if (!name.endsWith(REPLACED)) continue;
    const live = layout.internalEntry("writable", name.slice(0, -REPLACED.length));
    const entry = layout.internalEntry("trash", name);
    // The new content never arrived (it cannot be elsewhere after the loop above): undo.
    if (!(await exists(live))) await rename(entry, live);
    else {
      await store.deleteEntry(entry);
      removed.push(name);
    }
  }
  await settleRecords(store);
  return removed;
}

/**
 * Records after a crash: a restore's pending record left without its `tmp` entry belongs
 * to a restore that got its new content in place (a failed one drops the record first);
 * a record with no layer in any state belongs to a creation or a removal that was cut.
 */
async function settleRecords({ layout, records }: LayerStore): Promise<void> {
  for (const name of records.names()) {
    if (name.endsWith(RESTORING)) {
      const id = name.slice(0, -RESTORING.length);
      if (isLayerId(id) && (await exists(layout.entry("writable", id))))
        await records.move(name, id);
      else await records.remove(name);
    } else if (!isLayerId(name) || (await layout.stateOf(name)) === null) {
      await records.remove(name);
    }
  }
}
