import { checkSlug } from "@strata/api";
import type { Store } from "../db/store.ts";
import { q, StrataError } from "../errors.ts";

/**
 * Claims `name` in the organisation's namespace (shared by volumes and snapshots) for a
 * resource, or fails with `slug_taken` naming the holder. Call inside a transaction.
 */
export function claimName(
  store: Store,
  orgId: string,
  name: string,
  resource: { id: string; kind: "volume" | "snapshot" },
): void {
  // The schemas check names on the way in; this keeps every caller (the compatibility
  // layer, the daemon's own automatic names) to the one rule.
  const broken = checkSlug(name);
  if (broken) throw new StrataError(broken.code, broken.message);
  const holder = store.names.holder(orgId, name);
  if (holder !== undefined) {
    const kind = holder.startsWith("snp_") ? "snapshot" : "volume";
    throw new StrataError(
      "slug_taken",
      `Cannot create ${resource.kind} ${q(name)}: the name is already used by ${kind} ${holder}`,
    );
  }
  store.names.claim(orgId, name, resource.id);
}
