import type { ListQuery, SandboxSnapshotCreate, Snapshot } from "@strata/api";
import type { Page } from "../db/page.ts";
import type { SandboxRecord, SnapshotRecord } from "../db/records.ts";
import type { Store } from "../db/store.ts";
import { q, StrataError } from "../errors.ts";
import type { Logger } from "../lib/logger.ts";
import type { StorageDriver } from "../storage/driver.ts";
import type { EventLog } from "./events.ts";
import type { Quiesce } from "./quiesce.ts";
import { requireReady, sandboxNotFound } from "./refusals.ts";
import type { SnapshotWriter } from "./snapshot-writer.ts";
import type { SnapshotService } from "./snapshots.ts";
import { snapshotView } from "./views.ts";

export interface SandboxSnapshotDeps {
  store: Store;
  writer: SnapshotWriter;
  snapshots: SnapshotService;
  quiesce: Quiesce;
  driver: StorageDriver;
  events: EventLog;
  log: Logger;
}

/**
 * Snapshots of running sandboxes. A request answers at once with a `creating` snapshot;
 * the copy runs in the background: dirty data is flushed while the sandbox runs, then its
 * processes are frozen for the instant of the copy and thawed. The snapshot ends `ready`
 * or `failed` with the reason, never silently. One snapshot per sandbox at a time.
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
    return this.#start(this.#find(orgId, sandboxId), input.name, false);
  }

  /** One sandbox's snapshots, oldest first. */
  async list(orgId: string, sandboxId: string, query: ListQuery): Promise<Page<Snapshot>> {
    const sandbox = this.#find(orgId, sandboxId);
    return this.#d.snapshots.list(orgId, { ...query, sandbox: sandbox.id });
  }

  /**
   * A scheduled tick: snapshot now, or skip (recorded, with the reason: the sandbox is not
   * ready, or a snapshot of it is in flight) when that is not possible.
   */
  async tick(sandboxId: string): Promise<void> {
    const d = this.#d;
    const sandbox = d.store.sandboxes.byId(sandboxId);
    if (!sandbox) return;
    const about = { sandbox: sandbox.id };
    const name = automaticName(sandbox.id, new Date());
    try {
      this.#start(sandbox, name, true);
    } catch (err) {
      d.events.record(
        sandbox.orgId,
        "snapshot.skipped",
        about,
        `Skipped the scheduled snapshot of ${sandbox.id}: ${(err as Error).message}`,
      );
      return;
    }
    // The copy has only just begun: this event comes before its snapshot.ready.
    d.events.record(
      sandbox.orgId,
      "snapshot.tick",
      about,
      `Scheduled snapshot ${name} of ${sandbox.id} (${sandbox.schedule?.frequency ?? "no schedule"})`,
    );
  }

  /** Resolves once every copy in flight has finished (daemon shutdown). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.#inFlight.values()]);
  }

  #start(sandbox: SandboxRecord, name: string, automatic: boolean): Snapshot {
    const d = this.#d;
    requireReady(sandbox, "snapshot");
    if (this.#inFlight.has(sandbox.id))
      throw new StrataError(
        "snapshot_in_progress",
        `Cannot snapshot sandbox ${sandbox.id}: a snapshot of it is already being taken`,
      );
    const snapshot = d.writer.begin({
      orgId: sandbox.orgId,
      name,
      region: sandbox.region,
      origin: { kind: "sandbox", sandboxId: sandbox.id },
      bootable: true,
      template: sandbox.template,
      defaults: { memory: sandbox.memory, cpus: sandbox.cpus },
      automatic,
    });
    const copy = this.#copy(sandbox, snapshot).finally(() => this.#inFlight.delete(sandbox.id));
    this.#inFlight.set(sandbox.id, copy);
    // Nothing to measure yet: the answer does not wait for the filesystem's accounting.
    return snapshotView(snapshot, undefined);
  }

  async #copy(sandbox: SandboxRecord, draft: SnapshotRecord): Promise<void> {
    const d = this.#d;
    const about = { sandbox: sandbox.id, snapshot: draft.id };
    let frozenMs = 0;
    const snapshot = await d.writer.complete(
      draft,
      async (layer) => {
        ({ frozenMs } = await d.quiesce.sandbox(sandbox.id, (root) =>
          d.driver.snapshot(root, layer),
        ));
      },
      { onFailure: "record", what: `Cannot snapshot sandbox ${sandbox.id}` },
    );
    if (snapshot.status === "failed") {
      d.events.record(
        snapshot.orgId,
        "snapshot.failed",
        about,
        `Snapshot ${snapshot.slug} of ${sandbox.id} failed: ${snapshot.failureReason}`,
      );
      return;
    }
    d.events.record(
      snapshot.orgId,
      "snapshot.ready",
      about,
      `Snapshot ${snapshot.slug} of ${sandbox.id} is ready (${snapshot.sizeBytes} bytes; processes frozen ${frozenMs.toFixed(1)} ms)`,
    );
    if (snapshot.automatic) await this.#prune(sandbox.id);
  }

  /** Deletes the sandbox's automatic snapshots beyond its `snapshotKeep`, oldest first. */
  async #prune(sandboxId: string): Promise<void> {
    const d = this.#d;
    const keep = d.store.sandboxes.byId(sandboxId)?.schedule?.keep;
    if (keep == null) return;
    for (const old of d.store.snapshots.automaticOf(sandboxId).slice(keep)) {
      try {
        await d.snapshots.delete(old.orgId, old.id);
        d.events.record(
          old.orgId,
          "snapshot.pruned",
          { sandbox: sandboxId, snapshot: old.id },
          `Deleted automatic snapshot ${old.slug}: ${sandboxId} keeps its newest ${keep}`,
        );
      } catch (err) {
        d.log.warn({ err, snapshot: old.id }, "Could not prune an automatic snapshot");
      }
    }
  }

  #find(orgId: string, sandboxId: string): SandboxRecord {
    const sandbox = this.#d.store.sandboxes.find(orgId, sandboxId);
    if (!sandbox) throw sandboxNotFound(sandboxId);
    return sandbox;
  }
}

/** `auto-<sandbox id without sbx_>-<UTC yyyymmddhhmmss>`: 40 characters, unique per second. */
export function automaticName(sandboxId: string, at: Date): string {
  const stamp = at
    .toISOString()
    .replace(/\.\d+Z$/, "")
    .replace(/\D/g, "");
  return `auto-${sandboxId.replace(/^sbx_/, "")}-${stamp}`;
}
