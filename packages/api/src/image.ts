import { z } from "zod";

/** The builtin images a volume can start from. */
export const BUILTIN_IMAGES = ["builtin:debian-13"] as const;
export type BuiltinImage = (typeof BUILTIN_IMAGES)[number];

export const IMAGE_STATUSES = ["absent", "building", "ready", "failed"] as const;
export type ImageStatus = (typeof IMAGE_STATUSES)[number];

/**
 * A builtin base image. It is built on first use (Debian's mmdebstrap for
 * `builtin:debian-13`), once; `status` shows the build, `failureReason` why it failed.
 */
export const Image = z.object({
  name: z.enum(BUILTIN_IMAGES),
  status: z.enum(IMAGE_STATUSES),
  phase: z.string().nullable().describe("The build's current step while building"),
  failureReason: z.string().nullable(),
  sizeBytes: z.number().int().nullable(),
  builtAt: z.string().nullable(),
});
export type Image = z.infer<typeof Image>;

export const ImageParams = z.strictObject({ name: z.string().max(64) });
