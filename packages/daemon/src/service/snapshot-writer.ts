import type { SandboxRoot } from "@strata/api";
import type { SandboxDefaults, SnapshotOrigin, SnapshotRecord } from "../db/records.ts";
import type { Store } from "../db/store.ts";
import { newId } from "../lib/ids.ts";
import type { StorageDriver } from "../storage/driver.ts";
import { sizeOf } from "./layers.ts";
import { claimName } from "./names.ts";
import type { OrgService } from "./org.ts";
import { storageStep } from "./storage-errors.ts";

/** What a new snapshot is, before anything is copied. */
export interface SnapshotDraft {
  orgId: string;
  /** Its name in the organisation's namespace (checked by the caller's schema). */
  name: string;
  region: string;
  origin: SnapshotOrigin;
  bootable: boolean;
  /** For a snapshot of a sandbox: where that sandbox's filesystem first came from. */
  template?: SandboxRoot | null;
  defaults?: SandboxDefaults | null;
  automatic?: boolean;
}

/**
 * How a failed copy ends: `forget` undoes the snapshot entirely (the caller is still
 * waiting and gets the error); `record` keeps it as `failed` with the reason (the caller
 * was answered `creating` and watches it).
 */
export type OnFailure = "forget" | "record";

/**
 * Every snapshot is made here, whatever it is of, in three steps:
 *
 * 1. **begin**: its name is claimed and its record written as `creating`, in one
 *    transaction (a name taken fails before anything is made);
 * 2. **copy**: the caller's `copy` makes the read-only layer named by the snapshot's id
 *    (holding its source still as it needs to);
 * 3. **finish**: the record becomes `ready` with its size, or on failure the layer is
 *    removed and the record is either forgotten or kept `failed` with the reason.
 *
 * Each step registers its undo on one stack, disarmed only when the snapshot is ready.
 */
export class SnapshotWriter {
  readonly #store: Store;
  readonly #driver: StorageDriver;
  readonly #orgs: OrgService;

  constructor(deps: { store: Store; driver: StorageDriver; orgs: OrgService }) {
    this.#store = deps.store;
    this.#driver = deps.driver;
    this.#orgs = deps.orgs;
  }

  /** Step 1: claims the name and records the snapshot as `creating`. */
  begin(draft: SnapshotDraft, now = new Date()): SnapshotRecord {
    const snapshot: SnapshotRecord = {
      id: newId("snp"),
      orgId: draft.orgId,
      slug: draft.name,
      region: draft.region,
      status: "creating",
      failureReason: null,
      kind: draft.origin.kind,
      origin: draft.origin,
      bootable: draft.bootable,
      template: draft.template ?? null,
      defaults: draft.defaults ?? null,
      sizeBytes: null,
      automatic: draft.automatic ?? false,
      protected: false,
      createdAt: now,
      expiresAt: this.#orgs.expiryFor(draft.orgId, now),
      settledAt: null,
    };
    this.#store.transaction(() => {
      claimName(this.#store, draft.orgId, draft.name, { id: snapshot.id, kind: "snapshot" });
      this.#store.snapshots.insert(snapshot);
    });
    return snapshot;
  }

  /**
   * Steps 2 and 3: runs `copy` into the layer `snapshot.id`, then records the outcome.
   * Resolves with the ready record; on failure rejects after undoing (`forget`), or
   * resolves with the failed record (`record`).
   */
  async complete(
    snapshot: SnapshotRecord,
    copy: (layer: string) => Promise<void>,
    options: { onFailure: OnFailure; what: string },
  ): Promise<SnapshotRecord> {
    const s = this.#store;
    await using stack = new AsyncDisposableStack();
    if (options.onFailure === "forget") stack.defer(() => this.#forget(snapshot.id));
    try {
      await storageStep(options.what, () => copy(snapshot.id));
      stack.defer(() => this.#driver.remove(snapshot.id));
      const sizeBytes = await sizeOf(this.#driver, snapshot.id);
      s.snapshots.finish(snapshot.id, { status: "ready", sizeBytes }, new Date());
      stack.move();
    } catch (err) {
      if (options.onFailure === "forget") throw err;
      await stack.disposeAsync();
      // The layer may be half-made even when `copy` itself failed.
      await this.#driver.remove(snapshot.id).catch(() => {});
      const reason = err instanceof Error ? err.message : String(err);
      s.snapshots.finish(snapshot.id, { status: "failed", reason }, new Date());
    }
    return s.snapshots.byId(snapshot.id) ?? snapshot;
  }

  #forget(id: string): void {
    this.#store.transaction(() => {
      this.#store.names.release(id);
      this.#store.snapshots.remove(id);
    });
  }
}
