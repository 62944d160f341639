import { z } from "zod";
import { ResourceRef } from "./common.ts";
import { withRule } from "./rule-schema.ts";
import { checkCapacity, checkSlug, NAME_LENGTH, NAME_PATTERN, NAME_RULES } from "./rules.ts";

/**
 * Slug rules shared by volumes and snapshots (one namespace per organisation, with sandbox
 * snapshots' names too): {@link NAME_RULES}.
 */
export const SLUG_RULES = NAME_RULES;

/**
 * A volume's or volume snapshot's slug: a name by {@link NAME_RULES} (`invalid_slug`
 * otherwise), unique in the organisation among volumes and snapshots of both kinds.
 */
export const Slug = withRule(z.string(), checkSlug)
  .min(NAME_LENGTH.min)
  .max(NAME_LENGTH.max)
  .regex(NAME_PATTERN);

/** A byte count, or a size string such as `"10GB"` (`invalid_capacity` otherwise). */
export const Capacity = withRule(z.union([z.number(), z.string()]), checkCapacity);

/** Body of `POST /v1/volumes`. */
export const VolumeCreate = z.strictObject({
  slug: Slug.describe(`Unique name within the organisation: ${SLUG_RULES}`),
  region: z.string().describe("A region the daemon serves (see GET /v1/health)"),
  capacity: Capacity.describe(
    'Bytes, or a size string: "10GB", "512MiB" (GB/MB/KB decimal, GiB/MiB/KiB binary); within the daemon\'s capacity limits',
  ),
  from: z
    .string()
    .optional()
    .describe(
      '"builtin:debian-13", or a snapshot id or slug in the same region; makes the volume bootable',
    ),
});
export type VolumeCreate = z.infer<typeof VolumeCreate>;

export const VOLUME_STATUSES = ["creating", "ready", "failed"] as const;
export type VolumeStatus = (typeof VOLUME_STATUSES)[number];

/** Where a volume's initial content came from. */
export const VolumeBase = z.union([
  z.object({ kind: z.literal("image"), image: z.string() }),
  z.object({ kind: z.literal("snapshot"), snapshot: ResourceRef }),
]);
export type VolumeBase = z.infer<typeof VolumeBase>;

/**
 * A volume: a writable filesystem with a hard capacity, kept across sandboxes.
 *
 * Sizes come from btrfs qgroups. `usedBytes` is what counts against `capacity`: every
 * extent the volume references, shared or not (btrfs counts whole extents, so a file
 * rewritten in place can count more than its size until it is rewritten whole).
 * `estimatedFlattenedSize` is the same figure read as "what a full copy would take";
 * `estimatedAllocatedSize` is the space only this volume holds (what deleting it frees,
 * excluding data shared with its base image, snapshots or forks).
 */
export const Volume = z.object({
  id: z.string(),
  slug: z.string(),
  region: z.string(),
  status: z.enum(VOLUME_STATUSES),
  failureReason: z.string().nullable(),
  capacity: z.number().int(),
  usedBytes: z.number().int(),
  estimatedAllocatedSize: z.number().int(),
  estimatedFlattenedSize: z.number().int(),
  bootable: z.boolean(),
  base: VolumeBase.nullable(),
  attachedTo: z.string().nullable(),
  createdAt: z.string(),
});
export type Volume = z.infer<typeof Volume>;
