/** The API's view of each record (what `/v1` answers), computed from records alone. */
import type { Sandbox, Snapshot, Volume } from "@strata/api";
import type { SandboxRecord, SnapshotRecord, VolumeRecord } from "../db/records.ts";
import type { LayerUsage } from "../storage/driver.ts";

const NO_USAGE: LayerUsage = { referencedBytes: 0, exclusiveBytes: 0 };

export function volumeView(v: VolumeRecord, usage: LayerUsage | undefined): Volume {
  const u = usage ?? NO_USAGE;
  return {
    id: v.id,
    slug: v.slug,
    region: v.region,
    status: v.status,
    failureReason: v.failureReason,
    capacity: v.capacity,
    usedBytes: u.referencedBytes,
    estimatedAllocatedSize: u.exclusiveBytes,
    estimatedFlattenedSize: u.referencedBytes,
    bootable: v.bootable,
    base:
      v.base === null
        ? null
        : v.base.kind === "image"
          ? { kind: "image", image: v.base.image }
          : { kind: "snapshot", snapshot: { id: v.base.id, slug: v.base.slug } },
    attachedTo: v.attachedTo,
    createdAt: v.createdAt.toISOString(),
  };
}

export function snapshotView(s: SnapshotRecord, usage: LayerUsage | undefined): Snapshot {
  const u = usage ?? NO_USAGE;
  const volume =
    s.origin.kind === "volume" ? { id: s.origin.volumeId, slug: s.origin.volumeSlug } : null;
  return {
    id: s.id,
    slug: s.slug,
    region: s.region,
    status: s.status,
    failureReason: s.failureReason,
    volume,
    allocatedSize: u.exclusiveBytes,
    flattenedSize: u.referencedBytes,
    bootable: s.bootable,
    createdAt: s.createdAt.toISOString(),
    kind: s.kind,
    source:
      s.origin.kind === "sandbox"
        ? { kind: "sandbox", sandbox: s.origin.sandboxId }
        : { kind: "volume", volume },
    template: s.template,
    sizeBytes: s.sizeBytes,
    automatic: s.automatic,
    protected: s.protected,
    expiresAt: s.expiresAt?.toISOString() ?? null,
    settledAt: s.settledAt?.toISOString() ?? null,
  };
}

export function sandboxView(
  s: SandboxRecord,
  portUrl: (sandboxId: string, port: number) => string,
): Sandbox {
  return {
    id: s.id,
    region: s.region,
    status: s.status,
    stopReason: s.stopReason,
    root:
      s.root.kind === "volume"
        ? { kind: "volume", volume: { id: s.root.volumeId, slug: s.root.volumeSlug } }
        : s.root.kind === "snapshot"
          ? { kind: "snapshot", snapshot: { id: s.root.snapshotId, slug: s.root.snapshotSlug } }
          : { kind: "image", image: s.root.image },
    volumes: s.mounts.map((m) => ({
      path: m.path,
      volume: { id: m.volumeId, slug: m.volumeSlug },
    })),
    labels: s.labels,
    memory: s.memory,
    cpus: s.cpus,
    runtime: s.runtime,
    port: s.port,
    url: s.port !== null && s.status !== "stopped" ? portUrl(s.id, s.port) : null,
    allowNet: s.allowNet,
    createdAt: s.createdAt.toISOString(),
    stoppedAt: s.stoppedAt?.toISOString() ?? null,
    expiresAt: s.expiresAt?.toISOString() ?? null,
    template: s.template,
    persistent: s.persistent,
    diskBytes: s.diskBytes,
    startable: s.persistent && s.status === "stopped" && s.retained,
    snapshotMode: s.schedule === null ? "manual" : "automatic",
    snapshotFrequency: s.schedule?.frequency ?? null,
    snapshotKeep: s.schedule?.keep ?? null,
  };
}
