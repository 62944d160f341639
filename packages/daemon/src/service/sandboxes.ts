import type { DatabaseSync } from "node:sqlite";
import type { Sandbox, SandboxCreate, SandboxListQuery, SandboxUpdate } from "@strata/api";
import { transaction } from "../db/database.ts";
import type { Page } from "../db/page.ts";
import type { SandboxesRepo, SandboxRow } from "../db/sandboxes-repo.ts";
import type { SnapshotsRepo } from "../db/snapshots-repo.ts";
import type { VolumeRow, VolumesRepo } from "../db/volumes-repo.ts";
import { q, StrataError } from "../errors.ts";
import { newId } from "../lib/ids.ts";
import type { KeyedLock } from "../lib/keyed-lock.ts";
import type { Logger } from "../lib/logger.ts";
import type { SandboxHandle, SandboxLauncher } from "../runtime/launcher.ts";
import type { StorageDriver } from "../storage/driver.ts";
import type { ImageService } from "./images.ts";
import {
  parseCpus,
  parseMemory,
  parseTimeout,
  type ResourceLimits,
  validateEnv,
  validateLabels,
  validateMounts,
  validatePort,
} from "./sandbox-input.ts";
import { sandboxView } from "./sandbox-view.ts";
import { storageStep } from "./storage-errors.ts";

export interface SandboxServiceDeps {
  db: DatabaseSync;
  sandboxes: SandboxesRepo;
  volumes: VolumesRepo;
  snapshots: SnapshotsRepo;
  driver: StorageDriver;
  images: ImageService;
  launcher: SandboxLauncher;
  locks: KeyedLock;
  log: Logger;
  region: string;
  limits: ResourceLimits & { maxTimeoutMs: number; rootCapacityBytes: number };
  /** Builds the public URL of an exposed port. */
  portUrl: (sandboxId: string, port: number) => string;
}

/** Sandbox state describes processes a power loss ends anyway: its commits skip the fsync. */
const EPHEMERAL = { durable: false } as const;

type Root =
  | { kind: "volume"; volume: VolumeRow }
  | { kind: "snapshot"; id: string; slug: string }
  | { kind: "image"; image: "builtin:debian-13" };

/**
 * Sandboxes: create (answering once commands can run), list, get, extend, kill. Every
 * sandbox that ends — killed, timed out, its init gone, or the daemon stopping — is
 * cleaned up completely: container, network, ephemeral root, bundle, volume attachments.
 */
export class SandboxService {
  readonly #d: SandboxServiceDeps;
  readonly #live = new Map<string, { handle: SandboxHandle; timer: NodeJS.Timeout | undefined }>();
  readonly #ending = new Map<string, Promise<void>>();
  readonly #sizes = new Map<string, number>();

  constructor(deps: SandboxServiceDeps) {
    this.#d = deps;
  }

  async create(orgId: string, input: SandboxCreate): Promise<Sandbox> {
    const d = this.#d;
    const region = input.region ?? d.region;
    if (region !== d.region)
      throw new StrataError(
        "invalid_region",
        `Unknown region ${q(region)}: this daemon serves ${q(d.region)}`,
      );
    const mounts = validateMounts(input.volumes ?? {});
    validateLabels(input.labels ?? {});
    validateEnv(input.env ?? {});
    const timeoutMs =
      input.timeout === undefined ? undefined : parseTimeout(input.timeout, d.limits.maxTimeoutMs);
    const memory = parseMemory(input.memory, d.limits.memory);
    const cpus = parseCpus(input.cpus, d.limits.cpus);
    validatePort(input.port);
    const runtime = input.runtime ?? "crun";
    if (runtime !== "crun") {
      throw new StrataError(
        "runtime_unavailable",
        `Cannot use runtime ${q(runtime)}: gVisor (runsc) is not installed on this host`,
      );
    }
    d.launcher.validateAllowNet(input.allowNet);

    const root = this.#resolveRoot(orgId, input.root, region);
    const mounted = mounts.map(([path, ref]) => ({
      path,
      volume: this.#resolveVolume(orgId, ref, region),
    }));
    const id = newId("sbx");
    const now = new Date();
    const row: SandboxRow = {
      id,
      org_id: orgId,
      region,
      status: "starting",
      stop_reason: null,
      root_kind: root.kind,
      root_ref:
        root.kind === "volume" ? root.volume.id : root.kind === "snapshot" ? root.id : root.image,
      root_slug:
        root.kind === "volume" ? root.volume.slug : root.kind === "snapshot" ? root.slug : null,
      root_layer: root.kind === "volume" ? root.volume.id : id,
      mounts: JSON.stringify(
        mounted.map((m) => ({ path: m.path, volumeId: m.volume.id, volumeSlug: m.volume.slug })),
      ),
      labels: JSON.stringify(input.labels ?? {}),
      env: JSON.stringify(input.env ?? {}),
      memory,
      cpus,
      runtime,
      port: input.port ?? null,
      allow_net: input.allowNet === undefined ? null : JSON.stringify(input.allowNet),
      address: null,
      created_at: now.toISOString(),
      stopped_at: null,
      expires_at:
        timeoutMs === undefined ? null : new Date(now.getTime() + timeoutMs).toISOString(),
    };

    await using stack = new AsyncDisposableStack();
    const attachIds = [
      ...(root.kind === "volume" ? [root.volume.id] : []),
      ...mounted.map((m) => m.volume.id),
    ];
    if (new Set(attachIds).size !== attachIds.length) {
      throw new StrataError("volume_in_use", "Cannot use the same volume twice in one sandbox");
    }
    transaction(
      d.db,
      () => {
        const taken = d.volumes.attach(attachIds, id);
        if (taken)
          throw new StrataError(
            "volume_in_use",
            `Cannot attach volume ${q(taken.slug)}: it is already attached to sandbox ${taken.attached_to}`,
          );
        d.sandboxes.insert(row);
      },
      EPHEMERAL,
    );
    stack.defer(() => {
      transaction(
        d.db,
        () => {
          d.volumes.detachAll(id);
          d.sandboxes.remove(id);
        },
        EPHEMERAL,
      );
    });

    // The root is made while the launcher sets up the network: neither needs the other.
    let rootReady: Promise<void> = Promise.resolve();
    if (root.kind !== "volume") {
      const from = root.kind === "snapshot" ? root.id : await d.images.ensure(root.image);
      const size = await this.#layerSize(from);
      const capacity = Math.max(d.limits.rootCapacityBytes, size + 1e9);
      stack.defer(() => d.driver.remove(id));
      rootReady = storageStep(`Cannot create the root of sandbox ${id}`, () =>
        d.driver.create(id, { from, capacityBytes: capacity }),
      );
    }
    const handle = await d.launcher.launch({
      id,
      rootPath: d.driver.path(row.root_layer),
      mounts: mounted.map((m) => ({ source: d.driver.path(m.volume.id), destination: m.path })),
      env: input.env ?? {},
      memoryBytes: memory,
      cpus,
      allowNet: input.allowNet,
      rootReady,
    });
    d.sandboxes.setAddress(id, handle.address);
    d.sandboxes.setStatus(id, "ready");
    stack.move();

    this.#live.set(id, { handle, timer: undefined });
    if (timeoutMs !== undefined) this.#arm(id, timeoutMs);
    void handle.exited.then(() => this.#end(id, "exited"));
    d.log.info(
      { sandbox: id, root: row.root_kind, ms: Date.now() - now.getTime() },
      "Sandbox is ready",
    );
    return this.#view(row.id);
  }

  /**
   * The content size of a read-only layer (snapshot or image). Such layers never change, so
   * the size is read from the filesystem's accounting once; it costs a transaction commit.
   */
  async #layerSize(layer: string): Promise<number> {
    let size = this.#sizes.get(layer);
    if (size === undefined) {
      size = (await this.#d.driver.usage()).get(layer)?.referencedBytes ?? 0;
      this.#sizes.set(layer, size);
    }
    return size;
  }

  #resolveRoot(orgId: string, ref: string | undefined, region: string): Root {
    const d = this.#d;
    if (ref === undefined || ref === "builtin:debian-13")
      return { kind: "image", image: "builtin:debian-13" };
    const volume = d.volumes.find(orgId, ref);
    if (volume) {
      this.#checkVolume(volume, region);
      if (volume.bootable !== 1) {
        throw new StrataError(
          "root_not_bootable",
          `Cannot boot from volume ${q(volume.slug)}: it was created empty, not from builtin:debian-13 or a bootable snapshot`,
        );
      }
      return { kind: "volume", volume };
    }
    const snap = d.snapshots.find(orgId, ref);
    if (snap) {
      if (snap.region !== region)
        throw new StrataError(
          "region_mismatch",
          `Cannot boot from snapshot ${q(snap.slug)}: it is in region ${q(snap.region)}`,
        );
      if (snap.status !== "ready")
        throw new StrataError(
          "snapshot_not_ready",
          `Cannot boot from snapshot ${q(snap.slug)}: it is ${snap.status}`,
        );
      if (snap.bootable !== 1)
        throw new StrataError(
          "root_not_bootable",
          `Cannot boot from snapshot ${q(snap.slug)}: its volume was not bootable`,
        );
      return { kind: "snapshot", id: snap.id, slug: snap.slug };
    }
    throw new StrataError(
      "volume_not_found",
      `Unknown root ${q(ref)}: no volume or snapshot has that id or slug`,
    );
  }

  #resolveVolume(orgId: string, ref: string, region: string): VolumeRow {
    const volume = this.#d.volumes.find(orgId, ref);
    if (!volume)
      throw new StrataError(
        "volume_not_found",
        `Cannot mount volume ${q(ref)}: no volume has that id or slug`,
      );
    this.#checkVolume(volume, region);
    return volume;
  }

  #checkVolume(volume: VolumeRow, region: string): void {
    if (volume.region !== region) {
      throw new StrataError(
        "region_mismatch",
        `Cannot use volume ${q(volume.slug)}: it is in region ${q(volume.region)}, the sandbox in ${q(region)}`,
      );
    }
    if (volume.status !== "ready")
      throw new StrataError(
        "volume_not_ready",
        `Cannot use volume ${q(volume.slug)}: it is ${volume.status}`,
      );
    if (volume.attached_to) {
      throw new StrataError(
        "volume_in_use",
        `Cannot attach volume ${q(volume.slug)}: it is already attached to sandbox ${volume.attached_to}`,
      );
    }
  }

  #arm(id: string, ms: number): void {
    const live = this.#live.get(id);
    if (!live) return;
    clearTimeout(live.timer);
    // setTimeout caps at 2^31-1 ms; longer timeouts re-arm.
    const step = Math.min(ms, 2 ** 31 - 1);
    live.timer = setTimeout(
      () => (step < ms ? this.#arm(id, ms - step) : void this.#end(id, "timeout")),
      step,
    );
    live.timer.unref();
  }

  async get(orgId: string, id: string): Promise<Sandbox> {
    this.#find(orgId, id);
    return this.#view(id);
  }

  async list(orgId: string, query: SandboxListQuery): Promise<Page<Sandbox>> {
    const labels: Record<string, string> = {};
    for (const l of query.label === undefined ? [] : [query.label].flat()) {
      const i = l.indexOf("=");
      if (i <= 0)
        throw new StrataError("invalid_labels", `Invalid label filter ${q(l)}: expected key=value`);
      labels[l.slice(0, i)] = l.slice(i + 1);
    }
    const page = this.#d.sandboxes.list(orgId, {
      status: query.status,
      labels,
      limit: query.limit,
      cursor: query.cursor,
    });
    return {
      items: page.items.map((r) => sandboxView(r, this.#d.portUrl)),
      nextCursor: page.nextCursor,
    };
  }

  /** Sets a new timeout, counted from now. */
  async update(orgId: string, id: string, input: SandboxUpdate): Promise<Sandbox> {
    const row = this.#running(orgId, id);
    const ms = parseTimeout(input.timeout, this.#d.limits.maxTimeoutMs);
    this.#d.sandboxes.setExpiry(row.id, new Date(Date.now() + ms).toISOString());
    this.#arm(row.id, ms);
    return this.#view(row.id);
  }

  /** Exposes `port` through the daemon's proxy (replacing the exposed port, if any); the URL is in the answer. */
  async expose(orgId: string, id: string, port: number): Promise<Sandbox> {
    validatePort(port);
    const row = this.#running(orgId, id);
    this.#d.sandboxes.setPort(row.id, port);
    return this.#view(row.id);
  }

  /**
   * Kills the sandbox: resolves once none of its processes runs and it is marked stopped.
   * Its container state, network and ephemeral root are removed right after, in the
   * background.
   */
  async kill(orgId: string, id: string): Promise<void> {
    const row = this.#find(orgId, id);
    if (row.status === "stopped") return;
    await this.#end(row.id, "killed");
  }

  /** A running sandbox's agent and environment, for exec and files; fails when it is not running. */
  context(
    orgId: string,
    id: string,
  ): { agent: SandboxHandle["agent"]; env: Record<string, string> } {
    const row = this.#running(orgId, id);
    const live = this.#live.get(row.id);
    if (!live) throw new StrataError("sandbox_not_running", `Sandbox ${id} is not running`);
    return { agent: live.handle.agent, env: JSON.parse(row.env) as Record<string, string> };
  }

  #running(orgId: string, id: string): SandboxRow {
    const row = this.#find(orgId, id);
    if (row.status !== "ready")
      throw new StrataError(
        "sandbox_not_running",
        `Sandbox ${id} is ${row.status}, so nothing can run in it`,
      );
    return row;
  }

  #find(orgId: string, id: string): SandboxRow {
    const row = this.#d.sandboxes.find(orgId, id);
    if (!row) throw new StrataError("sandbox_not_found", `Sandbox ${q(id)} not found`);
    return row;
  }

  #view(id: string): Sandbox {
    const row = this.#d.sandboxes.byId(id);
    if (!row) throw new StrataError("sandbox_not_found", `Sandbox ${q(id)} not found`);
    return sandboxView(row, this.#d.portUrl);
  }

  /** Ends a sandbox once, however many callers ask; later callers wait for the same cleanup. */
  #end(id: string, reason: string): Promise<void> {
    let ending = this.#ending.get(id);
    if (!ending) {
      ending = this.#cleanup(id, reason).finally(() => this.#ending.delete(id));
      this.#ending.set(id, ending);
    }
    return ending;
  }

  async #cleanup(id: string, reason: string): Promise<void> {
    const d = this.#d;
    const row = d.sandboxes.byId(id);
    if (!row || row.status === "stopped") return;
    d.sandboxes.setStopReason(id, reason);
    d.sandboxes.setStatus(id, "stopping");
    const live = this.#live.get(id);
    clearTimeout(live?.timer);
    this.#live.delete(id);
    // Returns once nothing runs in the sandbox; the container, network and ephemeral root
    // are removed in the background (the launcher's settle/close/reconcile wait for it).
    const layer = row.root_layer;
    await d.launcher.destroy(id, {
      release: row.root_kind === "volume" ? undefined : () => d.driver.remove(layer),
    });
    transaction(
      d.db,
      () => {
        d.volumes.detachAll(id);
        d.sandboxes.markStopped(id, reason, new Date().toISOString());
      },
      EPHEMERAL,
    );
    d.log.info({ sandbox: id, reason }, "Sandbox stopped");
  }

  /** Where the port proxy sends `<hostId>-<port>.<domain>`: a running sandbox that exposes that port. */
  resolvePort(hostId: string, port: number): { address: string; port: number } | undefined {
    const id = `sbx_${hostId}`;
    const live = this.#live.get(id);
    const row = live && this.#d.sandboxes.byId(id);
    if (!live || !row || row.status !== "ready" || row.port !== port) return undefined;
    return { address: live.handle.address, port };
  }

  /** Ends every running sandbox and waits until everything they held is removed (daemon shutdown). */
  async stopAll(reason = "daemon_stopped"): Promise<void> {
    await Promise.allSettled(this.#d.sandboxes.live().map((r) => this.#end(r.id, reason)));
    await this.#d.launcher.settle();
  }

  /**
   * After a restart nothing of a previous run is alive (the agents exit when the daemon's
   * end of their socket closes): every sandbox still marked live is cleaned up and stopped.
   */
  async reconcile(): Promise<string[]> {
    const ended: string[] = [];
    for (const row of this.#d.sandboxes.live()) {
      await this.#cleanup(row.id, "daemon_restarted");
      ended.push(row.id);
    }
    await this.#d.launcher.reconcile(new Set());
    return ended;
  }
}
