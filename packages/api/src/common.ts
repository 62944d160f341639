import { z } from "zod";

/** Query of every list endpoint: cursor pagination plus a substring search. */
export const ListQuery = z.strictObject({
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(200)
    .default(50)
    .describe("Items per page, 1–200 (default 50)"),
  cursor: z
    .string()
    .max(200)
    .optional()
    .describe("Opaque cursor from the previous page's Link header"),
  search: z.string().max(100).optional().describe("Only items whose id or slug contains this text"),
});
export type ListQuery = z.infer<typeof ListQuery>;

/** Path parameter naming a resource by id or slug. */
export const IdOrSlugParams = z.strictObject({
  idOrSlug: z.string().min(1).max(64).describe("The resource's id (vol_…, snp_…) or slug"),
});

/** A reference to another resource. */
export const ResourceRef = z.object({ id: z.string(), slug: z.string() });
export type ResourceRef = z.infer<typeof ResourceRef>;

/** `GET /v1/health`. */
export const Health = z.object({
  status: z.literal("ok"),
  version: z.string(),
  region: z.string(),
});
export type Health = z.infer<typeof Health>;

/** The JSON error body, for the OpenAPI document. */
export const ErrorBody = z.object({
  code: z.string(),
  message: z.string(),
  requestId: z.string().optional(),
  errno: z.string().optional(),
  details: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});
