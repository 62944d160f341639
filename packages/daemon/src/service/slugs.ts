import type { SlugsRepo } from "../db/slugs-repo.ts";
import { q, StrataError } from "../errors.ts";

/** Claims `slug` for a resource, or fails with `slug_taken` naming the holder. Call inside a transaction. */
export function claimSlug(
  slugs: SlugsRepo,
  orgId: string,
  slug: string,
  resourceId: string,
  what: string,
): void {
  const holder = slugs.owner(orgId, slug);
  if (holder !== undefined) {
    const kind = holder.startsWith("snp_") ? "snapshot" : "volume";
    throw new StrataError(
      "slug_taken",
      `Cannot create ${what} ${q(slug)}: the slug is already used by ${kind} ${holder}`,
    );
  }
  slugs.claim(orgId, slug, resourceId);
}
