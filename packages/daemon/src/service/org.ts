import { type Org, type OrgUpdate, parseDuration } from "@strata/api";
import type { Store } from "../db/store.ts";
import { q, StrataError } from "../errors.ts";

/** The longest retention accepted: ten years. */
const MAX_RETENTION_MS = 3650 * 86_400_000;

/** Parses a retention: a duration (`"30d"`, `"12h"`, …) in ms, or null for `"never"`. */
export function parseRetention(input: string): number | null {
  if (input === "never") return null;
  const ms = parseDuration(input);
  if (ms === undefined || ms < 1000 || ms > MAX_RETENTION_MS)
    throw new StrataError(
      "invalid_retention",
      `Invalid retention ${q(input)}: give a duration from "1s" to "3650d" (such as "30d" or "12h"), or "never"`,
    );
  return ms;
}

/** Organisation settings: the snapshot retention, with the daemon's default behind it. */
export class OrgService {
  readonly #repo: Store["orgs"];
  readonly #defaultRetention: string;

  constructor(repo: Store["orgs"], defaultRetention: string) {
    parseRetention(defaultRetention);
    this.#repo = repo;
    this.#defaultRetention = defaultRetention;
  }

  get(orgId: string): Org {
    const row = this.#repo.byId(orgId);
    if (!row) throw new StrataError("not_found", `Organisation ${q(orgId)} not found`);
    return {
      id: row.id,
      name: row.name,
      snapshotRetention: row.snapshotRetention ?? this.#defaultRetention,
    };
  }

  update(orgId: string, input: OrgUpdate): Org {
    if (input.snapshotRetention !== undefined) {
      parseRetention(input.snapshotRetention);
      this.#repo.setSnapshotRetention(orgId, input.snapshotRetention);
    }
    return this.get(orgId);
  }

  /** When a snapshot taken at `now` by `orgId` expires; null: never. */
  expiryFor(orgId: string, now = new Date()): Date | null {
    const ms = parseRetention(this.get(orgId).snapshotRetention);
    return ms === null ? null : new Date(now.getTime() + ms);
  }
}
