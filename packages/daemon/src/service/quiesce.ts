import type { Store } from "../db/store.ts";
import { run } from "../lib/exec.ts";
import type { KeyedLock } from "../lib/keyed-lock.ts";
import type { Logger } from "../lib/logger.ts";
import type { SandboxLauncher } from "../runtime/launcher.ts";
import type { StorageDriver } from "../storage/driver.ts";
import { requireReady } from "./refusals.ts";
import type { LiveSandboxes } from "./sandbox-registry.ts";

export interface QuiesceDeps {
  store: Store;
  live: LiveSandboxes;
  launcher: Pick<SandboxLauncher, "freeze" | "thaw">;
  driver: StorageDriver;
  /** Per-resource locks, shared with the sandbox lifecycle (pause, resume, start, stop, end). */
  locks: KeyedLock;
  log: Logger;
}

/** A sandbox held still: disposing thaws it and releases its lock. */
interface Hold extends AsyncDisposable {
  /** When the freeze began (`performance.now()`), or null when nothing had to be frozen. */
  readonly frozenSince: number | null;
}

/**
 * Holds a sandbox's writes still for the instant of a copy, so the copy is consistent:
 * every kind of snapshot goes through here. Dirty data is flushed while the sandbox still
 * runs, then its cgroup is frozen for the copy alone. A hold takes the sandbox's lock, so
 * it is serialised with pause, resume, start, stop and the sandbox's end.
 */
export class Quiesce {
  readonly #d: QuiesceDeps;

  constructor(deps: QuiesceDeps) {
    this.#d = deps;
  }

  /**
   * Runs `copy` with the sandbox's processes frozen: the sandbox must be ready, and stays
   * ready. Returns what `copy` returned and how long the processes were frozen.
   */
  async sandbox<T>(
    sandboxId: string,
    copy: (rootLayer: string) => Promise<T>,
  ): Promise<{ value: T; frozenMs: number }> {
    const d = this.#d;
    const layer = d.store.sandboxes.byId(sandboxId)?.rootLayer;
    if (layer === undefined) throw new Error(`Sandbox ${sandboxId} has ended`);
    await run(["sync", "-f", d.driver.writablePath(layer)]);
    await using held = await this.#hold(sandboxId, "snapshot");
    const value = await copy(layer);
    return { value, frozenMs: performance.now() - (held.frozenSince ?? performance.now()) };
  }

  /**
   * Holds a volume still until the returned handle is disposed: the sandbox it is attached
   * to, if that one runs, is frozen meanwhile. A volume no running sandbox uses needs nothing.
   */
  async volume(volumeId: string): Promise<AsyncDisposable> {
    const d = this.#d;
    const sandboxId = d.store.volumes.byId(volumeId)?.attachedTo;
    if (!sandboxId || !d.live.has(sandboxId)) return { [Symbol.asyncDispose]: async () => {} };
    await run(["sync", "-f", d.driver.writablePath(volumeId)]);
    const held = await this.#hold(sandboxId);
    return {
      [Symbol.asyncDispose]: async () => {
        await held[Symbol.asyncDispose]();
        if (held.frozenSince !== null)
          d.log.info(
            {
              sandbox: sandboxId,
              volume: volumeId,
              frozenMs: performance.now() - held.frozenSince,
            },
            "Thawed the sandbox after a copy of its volume",
          );
      },
    };
  }

  /**
   * Takes the sandbox's lock and freezes it. With `what`, the sandbox must be ready (else
   * the matching 409); without, one that is not ready is only locked (paused: frozen
   * already; starting or stopping: nothing of it writes).
   */
  async #hold(sandboxId: string, what?: string): Promise<Hold> {
    const d = this.#d;
    const lock = await d.locks.acquire(sandboxId);
    try {
      const sandbox = d.store.sandboxes.byId(sandboxId);
      const live = sandbox !== undefined && d.live.has(sandboxId);
      if (what !== undefined) {
        if (!live) throw new Error(`Sandbox ${sandboxId} has ended`);
        requireReady(sandbox, what);
      } else if (!live || sandbox.status !== "ready") {
        return { frozenSince: null, [Symbol.asyncDispose]: async () => lock[Symbol.dispose]() };
      }
      await d.launcher.freeze(sandboxId);
    } catch (err) {
      lock[Symbol.dispose]();
      throw err;
    }
    return {
      frozenSince: performance.now(),
      [Symbol.asyncDispose]: async () => {
        try {
          await d.launcher.thaw(sandboxId);
        } finally {
          lock[Symbol.dispose]();
        }
      },
    };
  }
}
