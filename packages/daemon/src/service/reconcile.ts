import type { ImagesRepo } from "../db/images-repo.ts";
import type { SlugsRepo } from "../db/slugs-repo.ts";
import type { SnapshotsRepo } from "../db/snapshots-repo.ts";
import type { VolumesRepo } from "../db/volumes-repo.ts";
import type { Logger } from "../lib/logger.ts";
import type { StorageDriver } from "../storage/driver.ts";
import type { VolumeService } from "./volumes.ts";

export interface ReconcileDeps {
  volumes: VolumesRepo;
  snapshots: SnapshotsRepo;
  images: ImagesRepo;
  slugs: SlugsRepo;
  driver: StorageDriver;
  volumeService: VolumeService;
  /** Root layers of persistent sandboxes, kept while they are stopped. */
  retainedLayers: () => string[];
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
  const report: ReconcileReport = {
    removedLayers: await d.driver.cleanup(),
    trashedLayers: [],
    resumedVolumes: [],
    failedVolumes: [],
    settledRestores: [],
    completedSnapshots: [],
    removedSnapshots: [],
    failedImages: [],
  };

  const layers = await d.driver.list();
  const stateOf = new Map(layers.map((l) => [l.id, l.state]));

  for (const img of d.images.all()) {
    if (
      img.status === "building" ||
      (img.status === "ready" && (!img.layer_id || stateOf.get(img.layer_id) !== "readonly"))
    ) {
      d.images.upsert({
        ...img,
        layer_id: null,
        status: "failed",
        phase: null,
        failure_reason:
          "The build was interrupted (daemon restart) or its data is missing; the next use rebuilds it",
      });
      report.failedImages.push(img.name);
    }
  }
  for (const s of d.snapshots.all()) {
    const has = stateOf.get(s.id) === "readonly";
    if (s.status === "creating" && has) {
      d.snapshots.setStatus(s.id, "ready");
      report.completedSnapshots.push(s.id);
    } else if (s.status === "creating" && s.kind === "sandbox") {
      // A snapshot the user saw as "creating" must not vanish: it failed, and says why.
      d.snapshots.settle(
        s.id,
        { status: "failed", reason: "The daemon stopped before the copy was taken" },
        new Date().toISOString(),
      );
      report.removedSnapshots.push(s.id);
    } else if (s.status === "creating") {
      d.slugs.release(s.id);
      d.snapshots.remove(s.id);
      report.removedSnapshots.push(s.id);
    } else if (s.status === "ready" && !has) {
      d.snapshots.setStatus(s.id, "failed", "The snapshot's data is missing from the storage pool");
    }
  }
  for (const v of d.volumes.all()) {
    const state = stateOf.get(v.id);
    if (v.restoring_from) {
      d.volumes.endRestore(v.id);
      report.settledRestores.push(v.id);
    }
    if (v.deleted_at !== null) {
      if (state === "writable") {
        await d.driver.trash(v.id);
        report.trashedLayers.push(v.id);
      }
      continue;
    }
    if (v.status === "creating") {
      if (state === "writable") {
        d.volumes.setStatus(v.id, "ready");
      } else {
        d.volumeService.resume(v);
        report.resumedVolumes.push(v.id);
      }
    } else if (v.status === "ready" && state !== "writable") {
      d.volumes.setStatus(v.id, "failed", "The volume's data is missing from the storage pool");
      report.failedVolumes.push(v.id);
    }
  }

  const owned = new Set<string>([
    ...d.volumes.all().map((v) => v.id),
    ...d.snapshots.all().map((s) => s.id),
    ...d.images.all().flatMap((i) => (i.layer_id ? [i.layer_id] : [])),
    ...d.retainedLayers(),
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
