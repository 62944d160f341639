import type { Store } from "../db/store.ts";
import type { Logger } from "../lib/logger.ts";
import type { StorageDriver } from "../storage/driver.ts";
import { sizeOf } from "./layers.ts";
import type { VolumeService } from "./volumes.ts";

export interface ReconcileDeps {
  store: Store;
  driver: StorageDriver;
  /** Completes volumes left `creating`. */
  volumes: Pick<VolumeService, "resume">;
  log: Logger;
}

/** What a reconcile pass changed, for the log and for tests. */
export interface ReconcileReport {
  removedLayers: string[];
  trashedLayers: string[];
  resumedVolumes: string[];
  failedVolumes: string[];
  /** Volumes whose restore was interrupted; the driver's cleanup finished or undid it. */
  settledRestores: string[];
  completedSnapshots: string[];
  /** Sandbox snapshots whose copy never happened, and snapshots whose data is gone. */
  failedSnapshots: string[];
  /** Volume snapshots whose copy never happened (their caller got an error). */
  removedSnapshots: string[];
  failedImages: string[];
}

/**
 * Brings the database and the pool into agreement after a crash or a hard stop. Runs on
 * every start, before the daemon accepts requests:
 *
 * - leftovers of interrupted creations (`tmp`) are deleted;
 * - layers no record owns are deleted (a stopped persistent sandbox owns its root); a
 *   deleted volume's layer still live is trashed;
 * - volumes left `creating` are completed (or failed with the reason); a ready volume
 *   whose data is gone is marked failed;
 * - a restore that was running is settled: `cleanup()` has already put the old or the new
 *   content in place, so only its intent is cleared;
 * - snapshots left `creating` are completed if their layer exists, else removed (a
 *   sandbox snapshot, which its caller saw as creating, is marked failed instead);
 * - image builds that were running are marked failed, so the next use rebuilds.
 */
export async function reconcile(d: ReconcileDeps): Promise<ReconcileReport> {
  const s = d.store;
  const report: ReconcileReport = {
    removedLayers: await d.driver.cleanup(),
    trashedLayers: [],
    resumedVolumes: [],
    failedVolumes: [],
    settledRestores: [],
    completedSnapshots: [],
    failedSnapshots: [],
    removedSnapshots: [],
    failedImages: [],
  };

  const layers = await d.driver.list();
  const stateOf = new Map(layers.map((l) => [l.id, l.state]));

  for (const img of s.images.all()) {
    if (
      img.status === "building" ||
      (img.status === "ready" && (!img.layerId || stateOf.get(img.layerId) !== "readonly"))
    ) {
      s.images.upsert({
        ...img,
        layerId: null,
        status: "failed",
        phase: null,
        failureReason:
          "The build was interrupted (daemon restart) or its data is missing; the next use rebuilds it",
      });
      report.failedImages.push(img.name);
    }
  }
  for (const snap of s.snapshots.all()) {
    const has = stateOf.get(snap.id) === "readonly";
    if (snap.status === "creating" && has) {
      const sizeBytes = await sizeOf(d.driver, snap.id);
      s.snapshots.finish(snap.id, { status: "ready", sizeBytes }, new Date());
      report.completedSnapshots.push(snap.id);
    } else if (snap.status === "creating" && snap.kind === "sandbox") {
      // A snapshot the user saw as "creating" must not vanish: it failed, and says why.
      s.snapshots.finish(
        snap.id,
        { status: "failed", reason: "The daemon stopped before the copy was taken" },
        new Date(),
      );
      report.failedSnapshots.push(snap.id);
    } else if (snap.status === "creating") {
      s.transaction(() => {
        s.names.release(snap.id);
        s.snapshots.remove(snap.id);
      });
      report.removedSnapshots.push(snap.id);
    } else if (snap.status === "ready" && !has) {
      s.snapshots.finish(
        snap.id,
        { status: "failed", reason: "The snapshot's data is missing from the storage pool" },
        snap.settledAt ?? new Date(),
      );
      report.failedSnapshots.push(snap.id);
    }
  }
  for (const v of s.volumes.all()) {
    const state = stateOf.get(v.id);
    if (v.restoringFrom) {
      s.volumes.endRestore(v.id);
      report.settledRestores.push(v.id);
    }
    if (v.deletedAt !== null) {
      if (state === "writable") {
        await d.driver.trash(v.id);
        report.trashedLayers.push(v.id);
      }
      continue;
    }
    if (v.status === "creating") {
      if (state === "writable") {
        s.volumes.setStatus(v.id, "ready");
      } else {
        d.volumes.resume(v);
        report.resumedVolumes.push(v.id);
      }
    } else if (v.status === "ready" && state !== "writable") {
      s.volumes.setStatus(v.id, "failed", "The volume's data is missing from the storage pool");
      report.failedVolumes.push(v.id);
    }
  }

  const owned = new Set<string>([
    ...s.volumes.all().map((v) => v.id),
    ...s.snapshots.all().map((snap) => snap.id),
    ...s.images.all().flatMap((i) => (i.layerId ? [i.layerId] : [])),
    // A stopped persistent sandbox owns its root.
    ...s.sandboxes.retained().map((sbx) => sbx.rootLayer),
  ]);
  for (const l of layers) {
    if (l.state !== "tmp" && !owned.has(l.id)) {
      await d.driver.remove(l.id);
      report.removedLayers.push(l.id);
    }
  }
  d.log.info({ ...report }, "Reconciled database and storage pool");
  return report;
}
