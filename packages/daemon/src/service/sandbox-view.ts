import type { Sandbox, SandboxRoot } from "@strata/api";
import type { SandboxRow } from "../db/sandboxes-repo.ts";

export function sandboxView(
  row: SandboxRow,
  portUrl: (id: string, port: number) => string,
): Sandbox {
  const mounts = JSON.parse(row.mounts) as { path: string; volumeId: string; volumeSlug: string }[];
  return {
    id: row.id,
    region: row.region,
    status: row.status,
    stopReason: row.stop_reason,
    root:
      row.root_kind === "volume"
        ? { kind: "volume", volume: { id: row.root_ref, slug: row.root_slug ?? "" } }
        : row.root_kind === "snapshot"
          ? { kind: "snapshot", snapshot: { id: row.root_ref, slug: row.root_slug ?? "" } }
          : { kind: "image", image: row.root_ref },
    volumes: mounts.map((m) => ({ path: m.path, volume: { id: m.volumeId, slug: m.volumeSlug } })),
    labels: JSON.parse(row.labels) as Record<string, string>,
    memory: row.memory,
    cpus: row.cpus,
    runtime: row.runtime === "runsc" ? "runsc" : "crun",
    port: row.port,
    url: row.port !== null && row.status !== "stopped" ? portUrl(row.id, row.port) : null,
    allowNet: row.allow_net === null ? null : (JSON.parse(row.allow_net) as string[]),
    createdAt: row.created_at,
    stoppedAt: row.stopped_at,
    expiresAt: row.expires_at,
    template: JSON.parse(row.template) as SandboxRoot,
    persistent: row.persistent === 1,
    diskBytes: row.disk_bytes,
    startable: row.persistent === 1 && row.status === "stopped" && row.retained === 1,
    snapshotMode: row.snapshot_frequency === null ? "manual" : "automatic",
    snapshotFrequency: row.snapshot_frequency,
    snapshotKeep: row.snapshot_keep,
  };
}
