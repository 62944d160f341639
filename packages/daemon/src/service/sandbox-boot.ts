import type { SandboxRecord, VolumeRecord } from "../db/records.ts";
import type { Store } from "../db/store.ts";
import { StrataError } from "../errors.ts";
import type { InFlight } from "../lib/in-flight.ts";
import type { SandboxLauncher } from "../runtime/launcher.ts";
import type { StorageDriver } from "../storage/driver.ts";
import type { ImageService } from "./images.ts";
import { sizeOf } from "./layers.ts";
import { volumeBusy } from "./refusals.ts";
import type { LiveSandboxes } from "./sandbox-registry.ts";
import type { ResolvedRoot } from "./sandbox-roots.ts";
import type { SandboxHooks, SandboxTeardown } from "./sandbox-teardown.ts";
import { storageStep } from "./storage-errors.ts";

export interface SandboxBootDeps {
  store: Store;
  live: LiveSandboxes;
  teardown: SandboxTeardown;
  driver: StorageDriver;
  images: ImageService;
  launcher: SandboxLauncher;
  hooks: SandboxHooks;
  /** Copies of snapshots in flight (sandbox roots being cloned): a snapshot delete waits for them. */
  snapshotCopies: InFlight;
  /** Capacity of an ephemeral root (at least its content plus 1 GB). */
  rootCapacityBytes: number;
}

/** Sandbox state describes processes a power loss ends anyway: its commits skip the fsync. */
const EPHEMERAL = { durable: false } as const;

/**
 * Brings a sandbox up: records it with its volumes attached, makes its root, launches its
 * container, and makes it ready (live handle, timeout, watch on its init, `ready` hook).
 * Either the sandbox is ready or nothing of it is left.
 */
export class SandboxBoot {
  readonly #d: SandboxBootDeps;

  constructor(deps: SandboxBootDeps) {
    this.#d = deps;
  }

  /** A new sandbox, from its record (`starting`) and what it boots from. */
  async create(
    sandbox: SandboxRecord,
    options: { root: ResolvedRoot; attach: VolumeRecord[]; diskBytes: number | undefined },
  ): Promise<void> {
    const d = this.#d;
    await using stack = new AsyncDisposableStack();
    this.#record(sandbox, options.attach);
    stack.defer(() => this.#forget(sandbox.id));
    const rootReady = this.#makeRoot(sandbox, options.root, options.diskBytes);
    if (options.root.kind !== "volume")
      stack.defer(async () => {
        // A launch that failed early must not race the clone it would remove.
        await rootReady.catch(() => {});
        await d.driver.remove(sandbox.id);
      });
    await this.#boot(sandbox, rootReady);
    if (sandbox.persistent) d.store.sandboxes.setRetained(sandbox.id, true);
    stack.move();
  }

  /** A stopped persistent sandbox, again, on its kept root; `mounted`: its volumes, checked. */
  async restart(sandbox: SandboxRecord, mounted: VolumeRecord[]): Promise<void> {
    const d = this.#d;
    const expiresAt = sandbox.timeoutMs === null ? null : new Date(Date.now() + sandbox.timeoutMs);
    d.store.transaction(() => {
      const taken = d.store.volumes.attach(
        mounted.map((v) => v.id),
        sandbox.id,
      );
      if (taken) throw volumeBusy(taken, "attach");
      d.store.sandboxes.restart(sandbox.id, expiresAt);
    });
    try {
      await this.#boot({ ...sandbox, expiresAt }, Promise.resolve());
    } catch (err) {
      d.store.transaction(() => {
        d.store.volumes.detachAll(sandbox.id);
        d.store.sandboxes.markStopped(sandbox.id, "start_failed", new Date());
      });
      throw err;
    }
  }

  /** Records a new sandbox and attaches its volumes, all or nothing. */
  #record(sandbox: SandboxRecord, attach: VolumeRecord[]): void {
    const d = this.#d;
    const ids = attach.map((v) => v.id);
    if (new Set(ids).size !== ids.length)
      throw new StrataError("volume_in_use", "Cannot use the same volume twice in one sandbox");
    d.store.transaction(() => {
      const taken = d.store.volumes.attach(ids, sandbox.id);
      if (taken) throw volumeBusy(taken, "attach");
      d.store.sandboxes.insert(sandbox);
    }, EPHEMERAL);
  }

  #forget(id: string): void {
    const d = this.#d;
    d.store.transaction(() => {
      d.store.volumes.detachAll(id);
      d.store.sandboxes.remove(id);
    }, EPHEMERAL);
  }

  /**
   * Makes the ephemeral (or persistent) root of a sandbox that does not boot from a volume,
   * while the launcher sets up the network: neither needs the other. A copy of a snapshot
   * is registered in this same tick, so that a delete of the snapshot waits for it.
   */
  #makeRoot(
    sandbox: SandboxRecord,
    root: ResolvedRoot,
    diskBytes: number | undefined,
  ): Promise<void> {
    const d = this.#d;
    if (root.kind === "volume") return Promise.resolve();
    const making = (async () => {
      const from = root.kind === "snapshot" ? root.snapshot.id : await d.images.ensure(root.image);
      const size = await sizeOf(d.driver, from);
      const capacity = diskBytes ?? Math.max(d.rootCapacityBytes, size + 1e9);
      if (sandbox.persistent) {
        sandbox.diskBytes = capacity;
        d.store.sandboxes.setDisk(sandbox.id, capacity);
      }
      await storageStep(`Cannot create the root of sandbox ${sandbox.id}`, () =>
        d.driver.create(sandbox.id, { from, capacityBytes: capacity }),
      );
    })();
    return root.kind === "snapshot" ? d.snapshotCopies.track(root.snapshot.id, making) : making;
  }

  /**
   * Launches the container of a `starting` sandbox whose records are written, and makes it
   * ready: the live handle, the timeout, the watch on its init, the `ready` hook.
   */
  async #boot(sandbox: SandboxRecord, rootReady: Promise<void>): Promise<void> {
    const d = this.#d;
    const id = sandbox.id;
    const handle = await d.launcher.launch({
      id,
      rootPath: d.driver.writablePath(sandbox.rootLayer),
      mounts: sandbox.mounts.map((m) => ({
        source: d.driver.writablePath(m.volumeId),
        destination: m.path,
      })),
      env: sandbox.env,
      memoryBytes: sandbox.memory,
      cpus: sandbox.cpus,
      allowNet: sandbox.allowNet ?? undefined,
      rootReady,
    });
    d.store.sandboxes.setAddress(id, handle.address);
    d.store.sandboxes.setStatus(id, "ready");
    d.live.add(id, handle);
    if (sandbox.expiresAt !== null)
      d.live.arm(
        id,
        sandbox.expiresAt.getTime() - Date.now(),
        () => void d.teardown.end(id, "timeout"),
      );
    d.hooks.ready?.({ ...sandbox, status: "ready", address: handle.address });
    void handle.exited.then(() => d.teardown.end(id, "exited"));
  }
}
