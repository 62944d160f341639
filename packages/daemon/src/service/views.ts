import type { SandboxRoot, Snapshot, Volume } from "@strata/api";
import type { SnapshotRow } from "../db/snapshots-repo.ts";
import type { VolumeRow } from "../db/volumes-repo.ts";
import type { LayerUsage } from "../storage/driver.ts";

const NO_USAGE: LayerUsage = { referencedBytes: 0, exclusiveBytes: 0 };

export function volumeView(row: VolumeRow, usage: LayerUsage | undefined): Volume {
  const u = usage ?? NO_USAGE;
  return {
    id: row.id,
    slug: row.slug,
    region: row.region,
    status: row.status,
    failureReason: row.failure_reason,
    capacity: row.capacity,
    usedBytes: u.referencedBytes,
    estimatedAllocatedSize: u.exclusiveBytes,
    estimatedFlattenedSize: u.referencedBytes,
    bootable: row.bootable === 1,
    base:
      row.base_image !== null
        ? { kind: "image", image: row.base_image }
        : row.base_snapshot_id !== null
          ? {
              kind: "snapshot",
              snapshot: { id: row.base_snapshot_id, slug: row.base_snapshot_slug ?? "" },
            }
          : null,
    attachedTo: row.attached_to,
    createdAt: row.created_at,
  };
}

export function snapshotView(row: SnapshotRow, usage: LayerUsage | undefined): Snapshot {
  const u = usage ?? NO_USAGE;
  return {
    id: row.id,
    slug: row.slug,
    region: row.region,
    status: row.status,
    failureReason: row.failure_reason,
    volume: row.volume_id ? { id: row.volume_id, slug: row.volume_slug ?? "" } : null,
    allocatedSize: u.exclusiveBytes,
    flattenedSize: u.referencedBytes,
    bootable: row.bootable === 1,
    createdAt: row.created_at,
    kind: row.kind,
    source:
      row.kind === "sandbox"
        ? { kind: "sandbox", sandbox: row.sandbox_id ?? "" }
        : {
            kind: "volume",
            volume: row.volume_id ? { id: row.volume_id, slug: row.volume_slug ?? "" } : null,
          },
    template: row.template === null ? null : (JSON.parse(row.template) as SandboxRoot),
    sizeBytes: row.size_bytes,
    automatic: row.automatic === 1,
    protected: row.protected === 1,
    expiresAt: row.expires_at,
    settledAt: row.ready_at,
  };
}
