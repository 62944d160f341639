import { z } from "zod";
import { withRule } from "./rule-schema.ts";
import { checkRetention } from "./rules.ts";

/** The calling organisation and its settings: `GET /v1/org`. */
export const Org = z.object({
  id: z.string(),
  name: z.string(),
  /**
   * How long new snapshots live before the reaper deletes them: a duration such as `"30d"`,
   * `"12h"` or `"90m"`, or `"never"`. Applies to snapshots taken after it is set.
   */
  snapshotRetention: z.string(),
});
export type Org = z.infer<typeof Org>;

/** Body of `PATCH /v1/org`. */
export const OrgUpdate = z.strictObject({
  snapshotRetention: withRule(z.string(), checkRetention)
    .optional()
    .describe(
      '"30d", "12h", "90m", "45s" (1s to 3650d) or "never": the expiry of snapshots taken from now on',
    ),
});
export type OrgUpdate = z.infer<typeof OrgUpdate>;
