import type { SandboxRecord } from "../db/records.ts";
import type { Store } from "../db/store.ts";
import type { KeyedLock } from "../lib/keyed-lock.ts";
import type { Logger } from "../lib/logger.ts";
import type { SandboxLauncher } from "../runtime/launcher.ts";
import type { StorageDriver } from "../storage/driver.ts";
import type { EventLog } from "./events.ts";
import type { LiveSandboxes } from "./sandbox-registry.ts";

/** What other services hear of a sandbox's life; the snapshot schedule hangs on these. */
export interface SandboxHooks {
  /** The sandbox became ready: created, or a persistent one started again. */
  ready?(sandbox: SandboxRecord): void;
  /** The sandbox began to end: it will not be ready again (until a start, if persistent). */
  ended?(sandbox: SandboxRecord): void;
}

export interface SandboxTeardownDeps {
  store: Store;
  live: LiveSandboxes;
  launcher: SandboxLauncher;
  driver: StorageDriver;
  locks: KeyedLock;
  events: EventLog;
  log: Logger;
  hooks: SandboxHooks;
}

/** Sandbox state describes processes a power loss ends anyway: its commits skip the fsync. */
const EPHEMERAL = { durable: false } as const;

/**
 * Ends sandboxes, whatever ends them (a kill, a stop, the timeout, their init exiting, the
 * daemon stopping), once each: container, network, ephemeral root, bundle and volume
 * attachments all go. A persistent sandbox keeps its root layer until it is deleted.
 */
export class SandboxTeardown {
  readonly #d: SandboxTeardownDeps;
  readonly #ending = new Map<string, Promise<void>>();

  constructor(deps: SandboxTeardownDeps) {
    this.#d = deps;
  }

  /**
   * Ends the sandbox; later callers wait for the same teardown. Resolves once none of its
   * processes runs and it is marked stopped; the rest is removed in the background.
   */
  end(id: string, reason: string): Promise<void> {
    let ending = this.#ending.get(id);
    if (!ending) {
      ending = this.#teardown(id, reason).finally(() => this.#ending.delete(id));
      this.#ending.set(id, ending);
    }
    return ending;
  }

  /** Resolves once the sandbox's teardown in progress, if any, is done. */
  async waitFor(id: string): Promise<void> {
    await this.#ending.get(id);
  }

  /** Ends every live sandbox and waits until everything they held is removed (shutdown). */
  async endAll(reason = "daemon_stopped"): Promise<void> {
    await Promise.allSettled(this.#d.store.sandboxes.live().map((s) => this.end(s.id, reason)));
    await this.#d.launcher.settle();
  }

  /**
   * After a restart nothing of a previous run is alive (the agents exit when the daemon's
   * end of their socket closes): every sandbox still marked live is torn down and stopped,
   * and the launcher removes whatever it still has on the host.
   */
  async reconcile(): Promise<string[]> {
    const ended: string[] = [];
    for (const s of this.#d.store.sandboxes.live()) {
      await this.#teardown(s.id, "daemon_restarted");
      ended.push(s.id);
    }
    await this.#d.launcher.reconcile(new Set());
    return ended;
  }

  async #teardown(id: string, reason: string): Promise<void> {
    const d = this.#d;
    // Waits for a pause, resume or snapshot copy in progress: never tear down mid-freeze.
    using _lock = await d.locks.acquire(id);
    const sandbox = d.store.sandboxes.byId(id);
    if (!sandbox || sandbox.status === "stopped") return;
    d.store.sandboxes.setStopReason(id, reason);
    d.store.sandboxes.setStatus(id, "stopping");
    d.hooks.ended?.(sandbox);
    d.live.remove(id);
    // Resolves once nothing runs in the sandbox; the container, network and ephemeral root
    // are removed in the background (the launcher's settle/close/reconcile wait for it).
    const layer = sandbox.rootLayer;
    const ephemeral = sandbox.root.kind !== "volume" && !sandbox.persistent;
    await d.launcher.destroy(id, { release: ephemeral ? () => d.driver.remove(layer) : undefined });
    d.store.transaction(() => {
      d.store.volumes.detachAll(id);
      d.store.sandboxes.markStopped(id, reason, new Date());
    }, EPHEMERAL);
    d.log.info({ sandbox: id, reason }, "Sandbox stopped");
    if (sandbox.persistent)
      d.events.record(
        sandbox.orgId,
        "sandbox.stopped",
        { sandbox: id },
        `Persistent sandbox ${id} stopped (${reason}); its disk is kept`,
      );
  }
}
