import { z } from "zod";
import { ResourceRef } from "./common.ts";

/** Body of `POST /v1/volumes/{idOrSlug}/snapshots`. */
export const SnapshotCreate = z.strictObject({
  slug: z.string().describe("Unique name within the organisation (shared with volume slugs)"),
});
export type SnapshotCreate = z.infer<typeof SnapshotCreate>;

export const SNAPSHOT_STATUSES = ["creating", "ready", "failed"] as const;
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
});
export type Snapshot = z.infer<typeof Snapshot>;
