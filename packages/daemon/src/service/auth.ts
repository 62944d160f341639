import { createHash, randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import type { Store } from "../db/store.ts";
import { newId } from "../lib/ids.ts";

export const DEFAULT_ORG = "default";
const ADMIN_TOKEN_NAME = "admin";

/** The organisation a request acts for. */
export interface Principal {
  orgId: string;
  tokenId: string;
}

/** Bearer tokens: random secrets, stored only as SHA-256 hashes, each scoped to one organisation. */
export class AuthService {
  readonly #orgs: Store["orgs"];
  constructor(orgs: Store["orgs"]) {
    this.#orgs = orgs;
  }

  authenticate(token: string): Principal | undefined {
    const row = this.#orgs.tokenByHash(hashToken(token));
    return row ? { orgId: row.orgId, tokenId: row.id } : undefined;
  }

  /**
   * Makes sure the default organisation exists and `tokenFile` holds a working admin token
   * for it (mode 0600), creating both on first start. Returns the token.
   */
  async ensureAdminToken(tokenFile: string): Promise<string> {
    let org = this.#orgs.byName(DEFAULT_ORG);
    if (!org) {
      org = { id: newId("org"), name: DEFAULT_ORG, snapshotRetention: null };
      this.#orgs.insert({ ...org, createdAt: new Date() });
    }
    const existing = (await readFile(tokenFile, "utf8").catch(() => "")).trim();
    if (existing && this.authenticate(existing)) return existing;
    const token = `stk_${randomBytes(32).toString("base64url")}`;
    this.#orgs.deleteTokensNamed(org.id, ADMIN_TOKEN_NAME);
    this.#orgs.insertToken({
      id: newId("tok"),
      orgId: org.id,
      name: ADMIN_TOKEN_NAME,
      hash: hashToken(token),
      createdAt: new Date(),
    });
    await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
    return token;
  }
}

export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}
