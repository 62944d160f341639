import { z } from "zod";
import { ListQuery, ResourceRef } from "./common.ts";
import { withRule } from "./rule-schema.ts";
import { checkSnapshotName, NAME_LENGTH, NAME_PATTERN, NAME_RULES } from "./rules.ts";
import { SandboxRoot } from "./sandbox.ts";
import { SNAPSHOT_KINDS, SNAPSHOT_STATUSES } from "./values.ts";
import { Slug } from "./volume.ts";

export type SnapshotKind = (typeof SNAPSHOT_KINDS)[number];

/** What a snapshot was taken of. */
export const SnapshotSource = z.union([
  z.object({ kind: z.literal("volume"), volume: ResourceRef.nullable() }),
  z.object({ kind: z.literal("sandbox"), sandbox: z.string() }),
]);
export type SnapshotSource = z.infer<typeof SnapshotSource>;

/** Body of `POST /v1/sandboxes/{id}/snapshots`. */
export const SandboxSnapshotCreate = z.strictObject({
  name: withRule(z.string(), checkSnapshotName)
    .min(NAME_LENGTH.min)
    .max(NAME_LENGTH.max)
    .regex(NAME_PATTERN)
    .describe(
      `Unique name within the organisation, shared with volume and snapshot slugs: ${NAME_RULES}`,
    ),
});
export type SandboxSnapshotCreate = z.infer<typeof SandboxSnapshotCreate>;

/** Body of `PATCH /v1/snapshots/{idOrSlug}`. */
export const SnapshotUpdate = z.strictObject({
  protected: z
    .boolean()
    .optional()
    .describe("Protected snapshots survive the reaper and refuse DELETE"),
  expiresAt: z
    .string()
    .datetime({ offset: true })
    .nullable()
    .optional()
    .describe("A new expiry (ISO 8601), or null to keep it forever"),
});
export type SnapshotUpdate = z.infer<typeof SnapshotUpdate>;

/** Query of `GET /v1/snapshots`. */
export const SnapshotListQuery = ListQuery.extend({
  kind: z.enum(SNAPSHOT_KINDS).optional().describe("Only snapshots of volumes, or of sandboxes"),
  sandbox: z.string().max(64).optional().describe("Only snapshots of this sandbox"),
});
export type SnapshotListQuery = z.infer<typeof SnapshotListQuery>;

/** Body of `POST /v1/volumes/{idOrSlug}/snapshots`. */
export const SnapshotCreate = z.strictObject({
  slug: Slug.describe(
    `Unique name within the organisation, shared with volume slugs and sandbox snapshot names: ${NAME_RULES}`,
  ),
});
export type SnapshotCreate = z.infer<typeof SnapshotCreate>;

export type SnapshotStatus = (typeof SNAPSHOT_STATUSES)[number];

/**
 * A read-only, point-in-time copy of a volume. Any number of volumes (and sandboxes) can
 * start from it copy-on-write; deleting it never affects them.
 *
 * `allocatedSize` is the space only this snapshot holds (exclusive); `flattenedSize` is
 * the size of its whole content.
 */
export const Snapshot = z.object({
  id: z.string(),
  slug: z.string(),
  region: z.string(),
  status: z.enum(SNAPSHOT_STATUSES),
  failureReason: z.string().nullable(),
  volume: ResourceRef.nullable(),
  allocatedSize: z.number().int(),
  flattenedSize: z.number().int(),
  bootable: z.boolean(),
  createdAt: z.string(),
  /** "volume": taken of a volume; "sandbox": taken of a running sandbox's root filesystem. */
  kind: z.enum(SNAPSHOT_KINDS),
  source: SnapshotSource,
  /** For a sandbox snapshot: where the sandbox's filesystem first came from. */
  template: SandboxRoot.nullable(),
  /** Size of the snapshot's content in bytes, recorded when it became ready. */
  sizeBytes: z.number().int().nullable(),
  /** Taken by a sandbox's snapshot schedule. */
  automatic: z.boolean(),
  /** Protected snapshots are kept by the reaper and refuse DELETE until unprotected. */
  protected: z.boolean(),
  /** When the reaper deletes it (the organisation's retention at creation); null: never. */
  expiresAt: z.string().nullable(),
  /** When it became ready or failed. */
  settledAt: z.string().nullable(),
});
export type Snapshot = z.infer<typeof Snapshot>;
