import type { SandboxCreate, SandboxRoot } from "@strata/api";
import type {
  SandboxDefaults,
  SandboxRootRef,
  SnapshotRecord,
  VolumeRecord,
} from "../db/records.ts";
import type { Store } from "../db/store.ts";
import { q, StrataError } from "../errors.ts";
import {
  requireRegion,
  requireSnapshotReady,
  requireVolumeReady,
  snapshotNotFound,
  volumeBusy,
  volumeNotFound,
} from "./refusals.ts";

/** The root a create asked for, resolved to records. */
export type ResolvedRoot =
  | { kind: "volume"; volume: VolumeRecord }
  | { kind: "snapshot"; snapshot: SnapshotRecord }
  | { kind: "image"; image: "builtin:debian-13" };

/**
 * Resolves what a sandbox boots from and mounts: `root` (a bootable volume, a snapshot or
 * the builtin image) or `fromSnapshot`, and the volumes of `volumes`, each checked to be
 * usable now (same region, ready, not attached). The attach itself happens in the
 * lifecycle's transaction, which checks again.
 */
export class SandboxRoots {
  readonly #store: Store;

  constructor(store: Store) {
    this.#store = store;
  }

  resolve(
    orgId: string,
    input: Pick<SandboxCreate, "root" | "fromSnapshot">,
    region: string,
  ): ResolvedRoot {
    const fromSnapshot = input.fromSnapshot !== undefined;
    if (fromSnapshot && input.root !== undefined)
      throw new StrataError("invalid_root", "Give either root or fromSnapshot, not both");
    const ref = input.fromSnapshot ?? input.root;
    if (ref === undefined || (!fromSnapshot && ref === "builtin:debian-13"))
      return { kind: "image", image: "builtin:debian-13" };
    const volume = this.#store.volumes.find(orgId, ref);
    if (volume) {
      if (fromSnapshot)
        throw new StrataError(
          "invalid_root",
          `Cannot boot from ${q(ref)} as fromSnapshot: it is a volume; give it as root instead`,
        );
      this.#checkUsable(volume, region);
      if (!volume.bootable)
        throw new StrataError(
          "root_not_bootable",
          `Cannot boot from volume ${q(volume.slug)}: it was created empty, not from builtin:debian-13 or a bootable snapshot`,
        );
      return { kind: "volume", volume };
    }
    const snapshot = this.#store.snapshots.find(orgId, ref);
    if (snapshot) {
      requireRegion(snapshot, "snapshot", region);
      requireSnapshotReady(snapshot, "boot from");
      if (!snapshot.bootable)
        throw new StrataError(
          "root_not_bootable",
          `Cannot boot from snapshot ${q(snapshot.slug)}: its volume was not bootable`,
        );
      return { kind: "snapshot", snapshot };
    }
    if (fromSnapshot) throw snapshotNotFound(ref);
    throw new StrataError(
      "volume_not_found",
      `Unknown root ${q(ref)}: no volume or snapshot has that id or slug`,
    );
  }

  /** A volume to mount at a path of the sandbox. */
  mount(orgId: string, ref: string, region: string): VolumeRecord {
    const volume = this.#store.volumes.find(orgId, ref);
    if (!volume) throw volumeNotFound(ref, "mount");
    this.#checkUsable(volume, region);
    return volume;
  }

  #checkUsable(volume: VolumeRecord, region: string): void {
    requireRegion(volume, "volume", region);
    requireVolumeReady(volume, "use");
    if (volume.attachedTo || volume.restoringFrom) throw volumeBusy(volume, "attach");
  }
}

/** The reference a sandbox record keeps to its root. */
export function rootRef(root: ResolvedRoot): SandboxRootRef {
  if (root.kind === "volume")
    return { kind: "volume", volumeId: root.volume.id, volumeSlug: root.volume.slug };
  if (root.kind === "snapshot")
    return { kind: "snapshot", snapshotId: root.snapshot.id, snapshotSlug: root.snapshot.slug };
  return { kind: "image", image: root.image };
}

/** Where a sandbox's filesystem first came from: a sandbox from a snapshot of a sandbox inherits its template. */
export function templateOf(root: ResolvedRoot): SandboxRoot {
  if (root.kind === "volume")
    return { kind: "volume", volume: { id: root.volume.id, slug: root.volume.slug } };
  if (root.kind === "image") return { kind: "image", image: root.image };
  return (
    root.snapshot.template ?? {
      kind: "snapshot",
      snapshot: { id: root.snapshot.id, slug: root.snapshot.slug },
    }
  );
}

/** What a sandbox from this root gets when it asks for no memory or cpus. */
export function inheritedDefaults(root: ResolvedRoot): SandboxDefaults | undefined {
  return root.kind === "snapshot" ? (root.snapshot.defaults ?? undefined) : undefined;
}
