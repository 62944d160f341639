/**
 * The records the repositories take and return: the daemon's state as typed values
 * (booleans, objects, arrays, dates). Only `db/` knows how they are stored (snake_case
 * columns, JSON text, 0/1, ISO strings), so another store (PostgreSQL) implements the same
 * repositories over the same records.
 *
 * Glossary:
 * - **name**: the user-facing handle of a volume or snapshot, unique per organisation in
 *   one namespace shared by both (the API calls it `slug` for volumes and volume
 *   snapshots, `name` for sandbox snapshots).
 * - **layer**: a filesystem in the storage pool, named by an internal id (a volume's id,
 *   a snapshot's id, a sandbox's id for its ephemeral root).
 * - **root**: what a sandbox boots from (a volume, a snapshot or a builtin image);
 *   **template**: where a sandbox's filesystem first came from, inherited through
 *   snapshots of sandboxes.
 */
import type { SandboxRoot, SandboxStatus, SnapshotKind, SnapshotStatus } from "@strata/api";

export type VolumeStatus = "creating" | "ready" | "failed";

/** Where a volume's first content came from. */
export type VolumeBase =
  | { kind: "image"; image: string }
  | { kind: "snapshot"; id: string; slug: string }
  | null;

export interface VolumeRecord {
  id: string;
  orgId: string;
  slug: string;
  region: string;
  status: VolumeStatus;
  failureReason: string | null;
  capacity: number;
  bootable: boolean;
  base: VolumeBase;
  /** The sandbox the volume is attached to (as root or mount). */
  attachedTo: string | null;
  /** The snapshot a rollback in progress copies from; nothing may attach the volume meanwhile. */
  restoringFrom: string | null;
  createdAt: Date;
  deletedAt: Date | null;
  purgeAt: Date | null;
}

/** What a snapshot was taken of. */
export type SnapshotOrigin =
  | { kind: "volume"; volumeId: string; volumeSlug: string }
  | { kind: "sandbox"; sandboxId: string };

/** What a sandbox booted from a snapshot of a sandbox gets when it asks for nothing else. */
export interface SandboxDefaults {
  memory: number;
  cpus: number;
}

export interface SnapshotRecord {
  id: string;
  orgId: string;
  /** Its name in the organisation's namespace (the API's `slug`). */
  slug: string;
  region: string;
  status: SnapshotStatus;
  failureReason: string | null;
  kind: SnapshotKind;
  origin: SnapshotOrigin;
  bootable: boolean;
  /** For a snapshot of a sandbox: where that sandbox's filesystem first came from. */
  template: SandboxRoot | null;
  defaults: SandboxDefaults | null;
  /** Bytes of its content, recorded once it is ready. */
  sizeBytes: number | null;
  /** Taken by a sandbox's snapshot schedule. */
  automatic: boolean;
  protected: boolean;
  createdAt: Date;
  expiresAt: Date | null;
  /** When it became ready or failed. */
  settledAt: Date | null;
}

/** What a sandbox boots from. */
export type SandboxRootRef =
  | { kind: "volume"; volumeId: string; volumeSlug: string }
  | { kind: "snapshot"; snapshotId: string; snapshotSlug: string }
  | { kind: "image"; image: string };

export interface SandboxMount {
  path: string;
  volumeId: string;
  volumeSlug: string;
}

export interface SnapshotSchedule {
  /** Five-field cron expression. */
  frequency: string;
  /** Keep only the newest N automatic snapshots; null keeps all. */
  keep: number | null;
}

export interface SandboxRecord {
  id: string;
  orgId: string;
  region: string;
  status: SandboxStatus;
  stopReason: string | null;
  root: SandboxRootRef;
  /** The layer mounted as root: the volume's own, or an ephemeral one named after the sandbox. */
  rootLayer: string;
  mounts: SandboxMount[];
  labels: Record<string, string>;
  env: Record<string, string>;
  memory: number;
  cpus: number;
  runtime: "crun" | "runsc";
  port: number | null;
  /** Egress allow-list; null: unrestricted. */
  allowNet: string[] | null;
  address: string | null;
  createdAt: Date;
  stoppedAt: Date | null;
  expiresAt: Date | null;
  /** The timeout asked for at creation, re-armed when a persistent sandbox starts again. */
  timeoutMs: number | null;
  template: SandboxRoot;
  persistent: boolean;
  diskBytes: number | null;
  /** A persistent sandbox whose root layer exists (stop keeps it, delete removes it). */
  retained: boolean;
  schedule: SnapshotSchedule | null;
}

export type ImageStatus = "building" | "ready" | "failed";

export interface ImageRecord {
  name: string;
  /** What the image was built from (`ImageBuilder.recipe`); null: before recipes were recorded. */
  recipe: string | null;
  layerId: string | null;
  status: ImageStatus;
  phase: string | null;
  failureReason: string | null;
  sizeBytes: number | null;
  builtAt: Date | null;
}

export interface OrgRecord {
  id: string;
  name: string;
  /** null: the daemon's default retention applies. */
  snapshotRetention: string | null;
}

export interface TokenRecord {
  id: string;
  orgId: string;
  name: string;
  hash: string;
  createdAt: Date;
}

export interface EventRecord {
  id: string;
  orgId: string;
  sandboxId: string | null;
  snapshotId: string | null;
  type: string;
  message: string;
  createdAt: Date;
}
