import {
  formatSize,
  type ListQuery,
  type Volume,
  type VolumeCreate,
  type VolumeRestore,
} from "@strata/api";
import type { Page } from "../db/page.ts";
import type { VolumeRecord } from "../db/records.ts";
import type { Store } from "../db/store.ts";
import { q, StrataError } from "../errors.ts";
import { newId } from "../lib/ids.ts";
import type { KeyedLock } from "../lib/keyed-lock.ts";
import type { Logger } from "../lib/logger.ts";
import { SANDBOX_ID_BASE } from "../runtime/oci-spec.ts";
import type { StorageDriver } from "../storage/driver.ts";
import { ImageService } from "./images.ts";
import { sizeOf } from "./layers.ts";
import { claimName } from "./names.ts";
import { requireSnapshotReady, snapshotNotFound, volumeBusy, volumeNotFound } from "./refusals.ts";
import { storageStep } from "./storage-errors.ts";
import { type CapacityLimits, parseCapacity, validateRegion } from "./validate.ts";
import { volumeView } from "./views.ts";

export interface VolumeServiceDeps {
  store: Store;
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

    const row = {
      id: newId("vol"),
      orgId,
      slug: input.slug,
      region: input.region,
      status: "creating" as const,
      capacity,
      bootable: source.kind === "image" || (source.kind === "snapshot" && source.bootable),
      base:
        source.kind === "image"
          ? { kind: "image" as const, image: source.image }
          : source.kind === "snapshot"
            ? { kind: "snapshot" as const, id: source.id, slug: source.slug }
            : null,
      createdAt: new Date(),
    };
    d.store.transaction(() => {
      claimName(d.store, orgId, row.slug, { id: row.id, kind: "volume" });
      d.store.volumes.insert(row);
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
      d.store.transaction(() => {
        d.store.names.release(row.id);
        d.store.volumes.remove(row.id);
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
    const snap = this.#d.store.snapshots.find(orgId, input.from);
    if (!snap) throw snapshotNotFound(input.from, "create a volume from");
    if (snap.region !== input.region) {
      throw new StrataError(
        "region_mismatch",
        `Cannot create a volume in region ${q(input.region)} from snapshot ${q(snap.slug)}: the snapshot is in region ${q(snap.region)}`,
      );
    }
    requireSnapshotReady(snap, "create a volume from");
    const size = await sizeOf(this.#d.driver, snap.id);
    if (size > capacity) {
      throw new StrataError(
        "invalid_capacity",
        `Invalid capacity ${q(input.capacity)}: snapshot ${q(snap.slug)} holds ${formatSize(size)}, more than the capacity`,
      );
    }
    return { kind: "snapshot", id: snap.id, slug: snap.slug, bootable: snap.bootable };
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
    const row = d.store.volumes.byId(id);
    if (!row || row.deletedAt !== null) return; // deleted while it waited for its image
    if (source.kind === "snapshot" && !d.store.snapshots.byId(source.id)) {
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
    d.store.volumes.setStatus(id, "ready");
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
      this.#d.store.volumes.setStatus(id, "failed", reason);
      this.#d.log.error({ volume: id, err: reason }, "Creating volume failed");
    }
  }

  #track(p: Promise<void>): void {
    this.#pending.add(p);
    void p.finally(() => this.#pending.delete(p));
  }

  /** Resumes a volume left `creating` by a daemon restart (the reconciler calls this). */
  resume(row: VolumeRecord): void {
    const source: Source =
      row.base === null
        ? { kind: "empty" }
        : row.base.kind === "image"
          ? { kind: "image", image: row.base.image }
          : { kind: "snapshot", id: row.base.id, slug: row.base.slug, bootable: row.bootable };
    this.#track(
      this.#materialise(row.id, source).catch((err: unknown) => {
        const reason = `Creation was interrupted by a daemon restart and could not be completed: ${err instanceof Error ? err.message : String(err)}`;
        this.#d.store.volumes.setStatus(row.id, "failed", reason);
      }),
    );
  }

  async get(orgId: string, idOrSlug: string): Promise<Volume> {
    return this.#view(this.#find(orgId, idOrSlug).id);
  }

  async list(orgId: string, query: ListQuery): Promise<Page<Volume>> {
    const page = this.#d.store.volumes.list(orgId, query);
    const ready = page.items.filter((v) => v.status === "ready").map((v) => v.id);
    const usage = await this.#d.driver.usage(ready);
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
    const row = d.store.volumes.byId(found.id);
    if (!row || row.deletedAt !== null) {
      throw new StrataError(
        "volume_not_found",
        `Cannot delete volume ${q(idOrSlug)}: it was deleted meanwhile`,
      );
    }
    if (row.attachedTo !== null || row.restoringFrom !== null) throw volumeBusy(row, "delete");
    const now = new Date();
    d.store.transaction(() => {
      d.store.volumes.markDeleted(row.id, now, new Date(now.getTime() + d.purgeGraceMs));
      d.store.names.release(row.id);
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
    const snap = d.store.snapshots.find(orgId, input.snapshot);
    if (!snap) throw snapshotNotFound(input.snapshot, `restore volume ${q(found.slug)} from`);
    // Volume before snapshot, the order #materialise takes them in.
    using _lock = await d.locks.acquire(found.id);
    using _source = await d.locks.acquire(snap.id);
    const row = d.store.volumes.byId(found.id);
    if (!row || row.deletedAt !== null) {
      throw new StrataError(
        "volume_not_found",
        `Cannot restore volume ${q(idOrSlug)}: it was deleted meanwhile`,
      );
    }
    const current = d.store.snapshots.byId(snap.id);
    if (!current) {
      throw new StrataError(
        "snapshot_not_found",
        `Cannot restore volume ${q(row.slug)}: snapshot ${q(snap.slug)} was deleted meanwhile`,
      );
    }
    if (current.origin.kind !== "volume" || current.origin.volumeId !== row.id) {
      throw new StrataError(
        "snapshot_not_of_volume",
        `Cannot restore volume ${q(row.slug)} from snapshot ${q(current.slug)}: the snapshot was taken of ${current.origin.kind === "volume" ? `volume ${q(current.origin.volumeSlug)}` : `sandbox ${current.origin.sandboxId}`}`,
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
    if (!d.store.volumes.beginRestore(row.id, current.id))
      throw volumeBusy(d.store.volumes.byId(row.id) ?? row, "restore");
    try {
      await storageStep(`Cannot restore volume ${q(row.slug)}`, () =>
        d.driver.restore(row.id, current.id, { capacityBytes: row.capacity }),
      );
    } finally {
      d.store.volumes.endRestore(row.id);
    }
    d.log.info(
      { volume: row.id, snapshot: current.id },
      `Restored volume ${row.slug} from snapshot ${current.slug}`,
    );
    return this.#view(row.id);
  }

  /** Purges the data of deleted volumes whose grace period has ended. */
  async purgeDue(now = new Date()): Promise<number> {
    const due = this.#d.store.volumes.duePurge(now);
    for (const row of due) {
      await this.#d.driver.remove(row.id);
      this.#d.store.volumes.remove(row.id);
      this.#d.log.info({ volume: row.id }, `Purged deleted volume ${row.slug}`);
    }
    return due.length;
  }

  /** Waits for background creations (shutdown, tests). */
  async drain(): Promise<void> {
    while (this.#pending.size) await Promise.allSettled([...this.#pending]);
  }

  #find(orgId: string, idOrSlug: string): VolumeRecord {
    const row = this.#d.store.volumes.find(orgId, idOrSlug);
    if (!row) throw volumeNotFound(idOrSlug);
    return row;
  }

  async #view(id: string): Promise<Volume> {
    const row = this.#d.store.volumes.byId(id);
    if (!row) throw volumeNotFound(id);
    const usage = row.status === "ready" ? await this.#d.driver.usage([id]) : undefined;
    return volumeView(row, usage?.get(id));
  }
}
