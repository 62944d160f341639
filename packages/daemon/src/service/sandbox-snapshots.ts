import type { DatabaseSync } from "node:sqlite";
import type { ListQuery, SandboxSnapshotCreate, Snapshot } from "@strata/api";
import { transaction } from "../db/database.ts";
import type { Page } from "../db/page.ts";
import type { SandboxRow } from "../db/sandboxes-repo.ts";
import type { SlugsRepo } from "../db/slugs-repo.ts";
import type { SnapshotRow, SnapshotsRepo } from "../db/snapshots-repo.ts";
import { q, StrataError } from "../errors.ts";
import { newId } from "../lib/ids.ts";
import type { Logger } from "../lib/logger.ts";
import type { StorageDriver } from "../storage/driver.ts";
import type { EventLog } from "./events.ts";
import type { OrgService } from "./org.ts";
import type { SandboxService, SnapshotDefaults } from "./sandboxes.ts";
import { claimSlug } from "./slugs.ts";
import type { SnapshotService } from "./snapshots.ts";
import { snapshotView } from "./views.ts";

export interface SandboxSnapshotDeps {
  db: DatabaseSync;
  snapshots: SnapshotsRepo;
  slugs: SlugsRepo;
  driver: StorageDriver;
  sandboxes: SandboxService;
  snapshotService: SnapshotService;
  orgs: OrgService;
  events: EventLog;
  log: Logger;
}

const NAME_RE = /^[a-z0-9-]{1,40}$/;

/**
 * Snapshots of running sandboxes. A request answers at once with a `creating` snapshot;
 * the copy runs in the background: dirty data is flushed while the sandbox runs, then its
 * processes are frozen for the instant of the btrfs snapshot and thawed. The snapshot ends
 * `ready` or `failed` with the reason, never silently. One snapshot per sandbox at a time.
 *
 * Also the target of automatic snapshots: `tick` takes one unless the sandbox is not ready
 * or a snapshot is in flight (skipped, with an event), then prunes beyond `snapshotKeep`.
 */
export class SandboxSnapshotService {
  readonly #d: SandboxSnapshotDeps;
  /** Sandbox id → the copy in flight. */
  readonly #inFlight = new Map<string, Promise<void>>();

  constructor(deps: SandboxSnapshotDeps) {
    this.#d = deps;
  }

  create(orgId: string, sandboxId: string, input: SandboxSnapshotCreate): Snapshot {
    const sandbox = this.#d.sandboxes.find(orgId, sandboxId);
    return this.#start(sandbox, input.name, false);
  }

  /** One sandbox's snapshots, oldest first. */
  async list(orgId: string, sandboxId: string, query: ListQuery): Promise<Page<Snapshot>> {
    const sandbox = this.#d.sandboxes.find(orgId, sandboxId);
    return this.#d.snapshotService.list(orgId, { ...query, sandbox: sandbox.id });
  }

  /**
   * A scheduled tick: snapshot now, or skip (recorded, with the reason: the sandbox is not
   * ready, or a snapshot of it is in flight) when that is not possible.
   */
  async tick(sandboxId: string): Promise<void> {
    const d = this.#d;
    const sandbox = d.sandboxes.findAny(sandboxId);
    if (!sandbox) return;
    const about = { sandbox: sandbox.id };
    const name = automaticName(sandbox.id, new Date());
    try {
      this.#start(sandbox, name, true);
    } catch (err) {
      d.events.record(
        sandbox.org_id,
        "snapshot.skipped",
        about,
        `Skipped the scheduled snapshot of ${sandbox.id}: ${(err as Error).message}`,
      );
      return;
    }
    // The copy has only just begun: this event comes before its snapshot.ready.
    d.events.record(
      sandbox.org_id,
      "snapshot.tick",
      about,
      `Scheduled snapshot ${name} of ${sandbox.id} (${sandbox.snapshot_frequency})`,
    );
  }

  /** Resolves once every copy in flight has settled (daemon shutdown). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.#inFlight.values()]);
  }

  #start(sandbox: SandboxRow, name: string, automatic: boolean): Snapshot {
    const d = this.#d;
    d.sandboxes.assertReady(sandbox, "snapshot");
    if (this.#inFlight.has(sandbox.id))
      throw new StrataError(
        "snapshot_in_progress",
        `Cannot snapshot sandbox ${sandbox.id}: a snapshot of it is already being taken`,
      );
    const now = new Date();
    const defaults: SnapshotDefaults = { memory: sandbox.memory, cpus: sandbox.cpus };
    const row: SnapshotRow = {
      id: newId("snp"),
      org_id: sandbox.org_id,
      slug: name,
      region: sandbox.region,
      status: "creating",
      failure_reason: null,
      volume_id: null,
      volume_slug: null,
      bootable: 1,
      created_at: now.toISOString(),
      kind: "sandbox",
      sandbox_id: sandbox.id,
      template: sandbox.template,
      defaults: JSON.stringify(defaults),
      size_bytes: null,
      automatic: automatic ? 1 : 0,
      protected: 0,
      expires_at: d.orgs.expiryFor(sandbox.org_id, now),
      ready_at: null,
    };
    transaction(d.db, () => {
      claimSlug(d.slugs, sandbox.org_id, name, row.id, "snapshot");
      d.snapshots.insert(row);
    });
    const copy = this.#copy(sandbox, row).finally(() => this.#inFlight.delete(sandbox.id));
    this.#inFlight.set(sandbox.id, copy);
    // Nothing to measure yet: the answer does not wait for the filesystem's accounting.
    return snapshotView(row, undefined);
  }

  async #copy(sandbox: SandboxRow, snap: SnapshotRow): Promise<void> {
    const d = this.#d;
    const about = { sandbox: sandbox.id, snapshot: snap.id };
    try {
      const { frozenMs } = await d.sandboxes.whileFrozen(sandbox.id, (layer) =>
        d.driver.snapshot(layer, snap.id),
      );
      // Ready (restorable) now; the size comes from the filesystem's accounting, which costs
      // a transaction commit, so it is recorded just after.
      d.snapshots.settle(snap.id, { status: "ready", sizeBytes: null }, new Date().toISOString());
      const sizeBytes = (await d.driver.usage()).get(snap.id)?.referencedBytes ?? 0;
      d.snapshots.setSize(snap.id, sizeBytes);
      d.events.record(
        snap.org_id,
        "snapshot.ready",
        about,
        `Snapshot ${snap.slug} of ${sandbox.id} is ready (${sizeBytes} bytes; processes frozen ${frozenMs.toFixed(1)} ms)`,
      );
    } catch (err) {
      await d.driver.remove(snap.id).catch(() => {});
      const reason = (err as Error).message;
      d.snapshots.settle(snap.id, { status: "failed", reason }, new Date().toISOString());
      d.events.record(
        snap.org_id,
        "snapshot.failed",
        about,
        `Snapshot ${snap.slug} of ${sandbox.id} failed: ${reason}`,
      );
      return;
    }
    if (snap.automatic === 1) await this.#prune(sandbox.id);
  }

  /** Deletes the sandbox's automatic snapshots beyond its `snapshotKeep`, oldest first. */
  async #prune(sandboxId: string): Promise<void> {
    const d = this.#d;
    const sandbox = d.sandboxes.findAny(sandboxId);
    if (sandbox?.snapshot_keep == null) return;
    for (const old of d.snapshots.automaticOf(sandboxId).slice(sandbox.snapshot_keep)) {
      try {
        await d.snapshotService.delete(old.org_id, old.id);
        d.events.record(
          old.org_id,
          "snapshot.pruned",
          { sandbox: sandboxId, snapshot: old.id },
          `Deleted automatic snapshot ${old.slug}: ${sandboxId} keeps its newest ${sandbox.snapshot_keep}`,
        );
      } catch (err) {
        d.log.warn({ err, snapshot: old.id }, "Could not prune an automatic snapshot");
      }
    }
  }
}

export function validateName(name: string): void {
  if (!NAME_RE.test(name))
    throw new StrataError(
      "invalid_snapshot_name",
      `Invalid snapshot name ${q(name)}: 1–40 characters of lowercase letters, digits and hyphens`,
    );
}

/** `auto-<sandbox id without sbx_>-<UTC yyyymmddhhmmss>`: 40 characters, unique per second. */
export function automaticName(sandboxId: string, at: Date): string {
  const stamp = at
    .toISOString()
    .replace(/\.\d+Z$/, "")
    .replace(/\D/g, "");
  return `auto-${sandboxId.replace(/^sbx_/, "")}-${stamp}`;
}
