import type { DatabaseSync } from "node:sqlite";
import {
  formatSize,
  type ListQuery,
  type Volume,
  type VolumeCreate,
  type VolumeRestore,
} from "@strata/api";
import { transaction } from "../db/database.ts";
import type { Page } from "../db/page.ts";
import type { SlugsRepo } from "../db/slugs-repo.ts";
import type { SnapshotsRepo } from "../db/snapshots-repo.ts";
import type { VolumeRow, VolumesRepo } from "../db/volumes-repo.ts";
import { q, StrataError } from "../errors.ts";
import { newId } from "../lib/ids.ts";
import type { KeyedLock } from "../lib/keyed-lock.ts";
import type { Logger } from "../lib/logger.ts";
import { SANDBOX_ID_BASE } from "../runtime/oci-spec.ts";
import type { StorageDriver } from "../storage/driver.ts";
import { ImageService } from "./images.ts";
import { claimSlug } from "./slugs.ts";
import { storageStep } from "./storage-errors.ts";
import { type CapacityLimits, parseCapacity, validateRegion } from "./validate.ts";
import { volumeView } from "./views.ts";

export interface VolumeServiceDeps {
  db: DatabaseSync;
  volumes: VolumesRepo;
  snapshots: SnapshotsRepo;
  slugs: SlugsRepo;
  driver: StorageDriver;
  images: ImageService;
  locks: KeyedLock;
  log: Logger;
  regions: readonly string[];
  capacity: CapacityLimits;
  /** How long a deleted volume's data is kept before it is purged. */
  purgeGraceMs: number;
}

/** Where a new volume's first content comes from. */
type Source =
  | { kind: "empty" }
  | { kind: "image"; image: string }
  | { kind: "snapshot"; id: string; slug: string; bootable: boolean };

/**
 * Volumes: writable filesystems with a hard capacity, created empty or as copy-on-write
 * forks of a builtin image or a snapshot.
 */
export class VolumeService {
  readonly #d: VolumeServiceDeps;
  readonly #pending = new Set<Promise<void>>();

  constructor(deps: VolumeServiceDeps) {
    this.#d = deps;
  }

  /**
   * Creates a volume. Resolves with it `ready`, or — when it starts from a builtin image
   * that is still being built — at once with status `creating`; it then becomes `ready`
   * or `failed` (with the build's reason) by itself.
   */
  async create(orgId: string, input: VolumeCreate): Promise<Volume> {
    const d = this.#d;
    validateRegion(input.region, d.regions);
    const capacity = parseCapacity(input.capacity, d.capacity);
    const source = await this.#resolveSource(orgId, input, capacity);

    const row: VolumeRow = {
      id: newId("vol"),
      org_id: orgId,
      slug: input.slug,
      region: input.region,
      status: "creating",
      failure_reason: null,
      capacity,
      bootable: source.kind === "image" || (source.kind === "snapshot" && source.bootable) ? 1 : 0,
      base_image: source.kind === "image" ? source.image : null,
      base_snapshot_id: source.kind === "snapshot" ? source.id : null,
      base_snapshot_slug: source.kind === "snapshot" ? source.slug : null,
      attached_to: null,
      created_at: new Date().toISOString(),
      deleted_at: null,
      purge_at: null,
    };
    transaction(d.db, () => {
      claimSlug(d.slugs, orgId, row.slug, row.id, "volume");
      d.volumes.insert(row);
    });
    d.log.info({ volume: row.id, slug: row.slug, source }, `Creating volume ${row.slug}`);

    if (
      source.kind === "image" &&
      ImageService.isBuiltin(source.image) &&
      !d.images.readyLayer(source.image)
    ) {
      this.#track(this.#completeAfterBuild(row.id, source.image));
      return this.#view(row.id);
    }
    try {
      await this.#materialise(row.id, source);
    } catch (err) {
      transaction(d.db, () => {
        d.slugs.release(row.id);
        d.volumes.remove(row.id);
      });
      throw err;
    }
    return this.#view(row.id);
  }

  async #resolveSource(orgId: string, input: VolumeCreate, capacity: number): Promise<Source> {
    if (input.from === undefined) return { kind: "empty" };
    if (input.from.startsWith("builtin:")) {
      if (!ImageService.isBuiltin(input.from)) {
        throw new StrataError(
          "invalid_source",
          `Invalid source ${q(input.from)}: the builtin images are "builtin:debian-13"`,
        );
      }
      return { kind: "image", image: input.from };
    }
    const snap = this.#d.snapshots.find(orgId, input.from);
    if (!snap) {
      throw new StrataError(
        "snapshot_not_found",
        `Cannot create a volume from ${q(input.from)}: no snapshot has that id or slug`,
      );
    }
    if (snap.region !== input.region) {
      throw new StrataError(
        "region_mismatch",
        `Cannot create a volume in region ${q(input.region)} from snapshot ${q(snap.slug)}: the snapshot is in region ${q(snap.region)}`,
      );
    }
    if (snap.status !== "ready") {
      throw new StrataError(
        "snapshot_not_ready",
        `Cannot create a volume from snapshot ${q(snap.slug)}: it is ${snap.status}`,
      );
    }
    const size = (await this.#d.driver.usage()).get(snap.id)?.referencedBytes ?? 0;
    if (size > capacity) {
      throw new StrataError(
        "invalid_capacity",
        `Invalid capacity ${q(input.capacity)}: snapshot ${q(snap.slug)} holds ${formatSize(size)}, more than the capacity`,
      );
    }
    return { kind: "snapshot", id: snap.id, slug: snap.slug, bootable: snap.bootable === 1 };
  }

  /** Makes the volume's layer and marks it ready; undoes the layer on failure. */
  async #materialise(id: string, source: Source): Promise<void> {
    const d = this.#d;
    // Wait for the image before taking the volume's lock, so a delete is not held up by a build.
    const imageLayer =
      source.kind === "image" && ImageService.isBuiltin(source.image)
        ? await d.images.ensure(source.image)
        : undefined;
    using _lock = await d.locks.acquire(id);
    // Held so that a concurrent delete of the source snapshot waits for the fork.
    using _source = source.kind === "snapshot" ? await d.locks.acquire(source.id) : undefined;
    const row = d.volumes.byId(id);
    if (!row || row.deleted_at !== null) return; // deleted while it waited for its image
    if (source.kind === "snapshot" && !d.snapshots.byId(source.id)) {
      throw new StrataError(
        "snapshot_not_found",
        `Cannot create volume ${q(row.slug)}: snapshot ${q(source.slug)} was deleted meanwhile`,
      );
    }
    const from = source.kind === "snapshot" ? source.id : imageLayer;
    await using stack = new AsyncDisposableStack();
    // An empty volume's top folder belongs to the sandboxes' mapped root, so they can write to it.
    const owner = from === undefined ? { uid: SANDBOX_ID_BASE, gid: SANDBOX_ID_BASE } : undefined;
    await storageStep(`Cannot create volume ${q(row.slug)}`, () =>
      d.driver.create(id, { from, capacityBytes: row.capacity, owner }),
    );
    stack.defer(() => d.driver.remove(id));
    d.volumes.setStatus(id, "ready");
    stack.move();
    d.log.info({ volume: id }, `Volume ${row.slug} is ready`);
  }

  async #completeAfterBuild(id: string, image: string): Promise<void> {
    try {
      await this.#materialise(id, { kind: "image", image });
    } catch (err) {
      // Left `creating`: the next start's reconciler resumes it.
      if (err instanceof StrataError && err.code === "shutting_down") return;
      const reason = err instanceof Error ? err.message : String(err);
      this.#d.volumes.setStatus(id, "failed", reason);
      this.#d.log.error({ volume: id, err: reason }, "Creating volume failed");
    }
  }

  #track(p: Promise<void>): void {
    this.#pending.add(p);
    void p.finally(() => this.#pending.delete(p));
  }

  /** Resumes a volume left `creating` by a daemon restart (the reconciler calls this). */
  resume(row: VolumeRow): void {
    const source: Source =
      row.base_image !== null
        ? { kind: "image", image: row.base_image }
        : row.base_snapshot_id !== null
          ? {
              kind: "snapshot",
              id: row.base_snapshot_id,
              slug: row.base_snapshot_slug ?? "",
              bootable: row.bootable === 1,
            }
          : { kind: "empty" };
    this.#track(
      this.#materialise(row.id, source).catch((err: unknown) => {
        const reason = `Creation was interrupted by a daemon restart and could not be completed: ${err instanceof Error ? err.message : String(err)}`;
        this.#d.volumes.setStatus(row.id, "failed", reason);
      }),
    );
  }

  async get(orgId: string, idOrSlug: string): Promise<Volume> {
    return this.#view(this.#find(orgId, idOrSlug).id);
  }

  async list(orgId: string, query: ListQuery): Promise<Page<Volume>> {
    const page = this.#d.volumes.list(orgId, query);
    const usage = page.items.length ? await this.#d.driver.usage() : new Map();
    return {
      items: page.items.map((r) => volumeView(r, usage.get(r.id))),
      nextCursor: page.nextCursor,
    };
  }

  /**
   * Deletes a volume: it leaves listings and frees its slug at once; its data moves to the
   * trash, out of reach, and is purged after the grace period.
   */
  async delete(orgId: string, idOrSlug: string): Promise<void> {
    const d = this.#d;
    const found = this.#find(orgId, idOrSlug);
    using _lock = await d.locks.acquire(found.id);
    const row = d.volumes.byId(found.id);
    if (!row || row.deleted_at !== null) {
      throw new StrataError(
        "volume_not_found",
        `Cannot delete volume ${q(idOrSlug)}: it was deleted meanwhile`,
      );
    }
    if (row.attached_to !== null) {
      throw new StrataError(
        "volume_in_use",
        `Cannot delete volume ${q(row.slug)}: it is attached to sandbox ${row.attached_to}`,
      );
    }
    const now = new Date();
    transaction(d.db, () => {
      d.volumes.markDeleted(
        row.id,
        now.toISOString(),
        new Date(now.getTime() + d.purgeGraceMs).toISOString(),
      );
      d.slugs.release(row.id);
    });
    if (await d.driver.has(row.id)) await d.driver.trash(row.id);
    d.log.info(
      { volume: row.id },
      `Deleted volume ${row.slug}; data purged after the grace period`,
    );
  }

  /**
   * Rolls a volume back in place to one of its own ready snapshots: same id, slug and
   * capacity, the snapshot's content; the snapshot is unchanged. Refused while a sandbox
   * has the volume attached. Crash-safe: the driver's `cleanup()` finishes or undoes an
   * interrupted swap, and the reconciler clears the intent.
   */
  async restore(orgId: string, idOrSlug: string, input: VolumeRestore): Promise<Volume> {
    const d = this.#d;
    const found = this.#find(orgId, idOrSlug);
    const snap = d.snapshots.find(orgId, input.snapshot);
    if (!snap) {
      throw new StrataError(
        "snapshot_not_found",
        `Cannot restore volume ${q(found.slug)} from ${q(input.snapshot)}: no snapshot has that id or slug`,
      );
    }
    // Volume before snapshot, the order #materialise takes them in.
    using _lock = await d.locks.acquire(found.id);
    using _source = await d.locks.acquire(snap.id);
    const row = d.volumes.byId(found.id);
    if (!row || row.deleted_at !== null) {
      throw new StrataError(
        "volume_not_found",
        `Cannot restore volume ${q(idOrSlug)}: it was deleted meanwhile`,
      );
    }
    const current = d.snapshots.byId(snap.id);
    if (!current) {
      throw new StrataError(
        "snapshot_not_found",
        `Cannot restore volume ${q(row.slug)}: snapshot ${q(snap.slug)} was deleted meanwhile`,
      );
    }
    if (current.volume_id !== row.id) {
      throw new StrataError(
        "snapshot_not_of_volume",
        `Cannot restore volume ${q(row.slug)} from snapshot ${q(current.slug)}: the snapshot was taken of ${current.volume_slug ? `volume ${q(current.volume_slug)}` : "another volume"}`,
      );
    }
    if (current.status !== "ready") {
      throw new StrataError(
        "snapshot_not_ready",
        `Cannot restore volume ${q(row.slug)} from snapshot ${q(current.slug)}: it is ${current.status}`,
      );
    }
    if (row.status !== "ready") {
      throw new StrataError(
        "volume_not_ready",
        `Cannot restore volume ${q(row.slug)}: it is ${row.status}`,
      );
    }
    if (!d.volumes.beginRestore(row.id, current.id)) {
      const now = d.volumes.byId(row.id);
      throw new StrataError(
        "volume_in_use",
        `Cannot restore volume ${q(row.slug)}: ${now?.attached_to ? `it is attached to sandbox ${now.attached_to}` : "it is being restored already"}`,
      );
    }
    try {
      await storageStep(`Cannot restore volume ${q(row.slug)}`, () =>
        d.driver.restore(row.id, current.id, { capacityBytes: row.capacity }),
      );
    } finally {
      d.volumes.endRestore(row.id);
    }
    d.log.info(
      { volume: row.id, snapshot: current.id },
      `Restored volume ${row.slug} from snapshot ${current.slug}`,
    );
    return this.#view(row.id);
  }

  /** Purges the data of deleted volumes whose grace period has ended. */
  async purgeDue(now = new Date()): Promise<number> {
    const due = this.#d.volumes.duePurge(now.toISOString());
    for (const row of due) {
      await this.#d.driver.remove(row.id);
      this.#d.volumes.remove(row.id);
      this.#d.log.info({ volume: row.id }, `Purged deleted volume ${row.slug}`);
    }
    return due.length;
  }

  /** Waits for background creations (shutdown, tests). */
  async settle(): Promise<void> {
    while (this.#pending.size) await Promise.allSettled([...this.#pending]);
  }

  #find(orgId: string, idOrSlug: string): VolumeRow {
    const row = this.#d.volumes.find(orgId, idOrSlug);
    if (!row) throw new StrataError("volume_not_found", `Volume ${q(idOrSlug)} not found`);
    return row;
  }

  async #view(id: string): Promise<Volume> {
    const row = this.#d.volumes.byId(id);
    if (!row) throw new StrataError("volume_not_found", `Volume ${q(id)} not found`);
    const usage = row.status === "ready" ? (await this.#d.driver.usage()).get(id) : undefined;
    return volumeView(row, usage);
  }
}
