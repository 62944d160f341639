import { z } from "zod";

/** Body of `POST /v1/volumes/{idOrSlug}/restore`. */
export const VolumeRestore = z.strictObject({
  snapshot: z
    .string()
    .min(1)
    .max(64)
    .describe("A ready snapshot of this volume, by id or slug, whose content the volume takes"),
});
export type VolumeRestore = z.infer<typeof VolumeRestore>;

/** Query of `GET /v1/snapshots/{idOrSlug}/files{,/stat,/content}`. */
export const SnapshotFileQuery = z.strictObject({
  path: z
    .string()
    .min(1)
    .max(4096)
    .describe("Absolute path inside the snapshot, resolved as if the snapshot were /"),
});
export type SnapshotFileQuery = z.infer<typeof SnapshotFileQuery>;

/** Most paths each list of a diff holds unless `limit` says otherwise. */
export const DIFF_DEFAULT_LIMIT = 1000;
/** The largest `limit` a diff accepts. */
export const DIFF_MAX_LIMIT = 10_000;

/** Query of `GET /v1/snapshots/{idOrSlug}/diff`. */
export const SnapshotDiffQuery = z.strictObject({
  to: z
    .string()
    .min(1)
    .max(64)
    .describe("The snapshot or volume (id or slug) to compare the snapshot with"),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(DIFF_MAX_LIMIT)
    .default(DIFF_DEFAULT_LIMIT)
    .describe(`Most paths per list, 1–${DIFF_MAX_LIMIT} (default ${DIFF_DEFAULT_LIMIT})`),
});
export type SnapshotDiffQuery = z.infer<typeof SnapshotDiffQuery>;

/** One side of a diff. */
export const DiffSide = z.object({
  kind: z.enum(["snapshot", "volume"]),
  id: z.string(),
  slug: z.string(),
});
export type DiffSide = z.infer<typeof DiffSide>;

/**
 * What changed from `base` (the snapshot in the URL) to `target` (the `to` parameter).
 * Paths are absolute inside the filesystem (`/etc/hosts`), sorted, usable as is with the
 * snapshot files API. A path is **added** when only `target` has it, **removed** when only
 * `base` has it, and **changed** when both have it with other content, size, mode, owner,
 * link target, extended attributes, or a different file in its place. Times alone never
 * count, so a folder whose entries changed is not itself changed. A renamed path is
 * removed at its old place and added at its new one, with everything under it. Each list
 * holds at most `limit` paths; `truncated` says some were left out.
 *
 * @example
 * ```json
 * { "base": { "kind": "snapshot", "id": "snp_…", "slug": "app-v1" },
 *   "target": { "kind": "volume", "id": "vol_…", "slug": "app" },
 *   "added": ["/srv/new.txt"], "removed": [], "changed": ["/etc/hosts"], "truncated": false }
 * ```
 */
export const SnapshotDiff = z.object({
  base: DiffSide,
  target: DiffSide,
  added: z.array(z.string()),
  removed: z.array(z.string()),
  changed: z.array(z.string()),
  truncated: z.boolean(),
});
export type SnapshotDiff = z.infer<typeof SnapshotDiff>;
