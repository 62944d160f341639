/**
 * One factory per refusal that several services give, so the same situation is always
 * told the same way (and never as "attached to sandbox null").
 */
import type { SandboxRecord, SnapshotRecord, VolumeRecord } from "../db/records.ts";
import { q, StrataError } from "../errors.ts";

/** `action`: what could not be done to it ("snapshot", "mount", …), for the message. */
export function volumeNotFound(ref: string, action?: string): StrataError {
  return new StrataError(
    "volume_not_found",
    action === undefined
      ? `Volume ${q(ref)} not found`
      : `Cannot ${action} volume ${q(ref)}: no volume has that id or slug`,
  );
}

/** `action`: what could not be done with it ("create a volume from", …), for the message. */
export function snapshotNotFound(ref: string, action?: string): StrataError {
  return new StrataError(
    "snapshot_not_found",
    action === undefined
      ? `Snapshot ${q(ref)} not found`
      : `Cannot ${action} ${q(ref)}: no snapshot has that id or slug`,
  );
}

export function sandboxNotFound(ref: string): StrataError {
  return new StrataError("sandbox_not_found", `Sandbox ${q(ref)} not found`);
}

/**
 * A volume that cannot be attached or rolled back because something holds it: a sandbox
 * it is attached to, or a rollback to one of its snapshots in progress.
 */
export function volumeBusy(volume: VolumeRecord, action: string): StrataError {
  const why = volume.attachedTo
    ? `it is attached to sandbox ${volume.attachedTo}`
    : volume.restoringFrom
      ? "it is being restored from a snapshot"
      : "it is in use";
  return new StrataError("volume_in_use", `Cannot ${action} volume ${q(volume.slug)}: ${why}`);
}

/** Fails with the matching 409 unless the sandbox is ready. */
export function requireReady(sandbox: SandboxRecord, what: string): void {
  if (sandbox.status === "ready") return;
  if (sandbox.status === "paused")
    throw new StrataError(
      "sandbox_paused",
      `Cannot ${what} sandbox ${sandbox.id}: it is paused; resume it first`,
    );
  if (sandbox.status === "stopped" || sandbox.status === "stopping")
    throw new StrataError(
      "sandbox_not_running",
      `Cannot ${what} sandbox ${sandbox.id}: it is ${sandbox.status}`,
    );
  throw new StrataError(
    "sandbox_not_ready",
    `Cannot ${what} sandbox ${sandbox.id}: it is ${sandbox.status}`,
  );
}

/** Fails unless the snapshot is ready to start something from (`action`: "boot from", …). */
export function requireSnapshotReady(snapshot: SnapshotRecord, action: string): void {
  if (snapshot.status === "ready") return;
  if (snapshot.status === "failed")
    throw new StrataError(
      "snapshot_failed",
      `Cannot ${action} snapshot ${q(snapshot.slug)}: it failed (${snapshot.failureReason ?? "no reason recorded"})`,
    );
  throw new StrataError(
    "snapshot_not_ready",
    `Cannot ${action} snapshot ${q(snapshot.slug)}: it is still being created`,
  );
}

/** Fails unless the volume is ready (`action`: "use", "snapshot", …). */
export function requireVolumeReady(volume: VolumeRecord, action: string): void {
  if (volume.status !== "ready")
    throw new StrataError(
      "volume_not_ready",
      `Cannot ${action} volume ${q(volume.slug)}: it is ${volume.status}`,
    );
}

/** Fails unless a resource is in the region asked for. */
export function requireRegion(
  resource: { region: string; slug: string },
  kind: "volume" | "snapshot",
  region: string,
): void {
  if (resource.region !== region)
    throw new StrataError(
      "region_mismatch",
      `Cannot use ${kind} ${q(resource.slug)}: it is in region ${q(resource.region)}, not ${q(region)}`,
    );
}
