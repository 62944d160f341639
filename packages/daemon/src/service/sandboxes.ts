import type { Sandbox, SandboxCreate, SandboxListQuery, SandboxUpdate } from "@strata/api";
import type { Page } from "../db/page.ts";
import type { SandboxRecord } from "../db/records.ts";
import type { Store } from "../db/store.ts";
import { q, StrataError } from "../errors.ts";
import { newId } from "../lib/ids.ts";
import type { KeyedLock } from "../lib/keyed-lock.ts";
import type { Logger } from "../lib/logger.ts";
import type { SandboxLauncher } from "../runtime/launcher.ts";
import type { StorageDriver } from "../storage/driver.ts";
import type { EventLog } from "./events.ts";
import { requireReady, sandboxNotFound } from "./refusals.ts";
import type { SandboxBoot } from "./sandbox-boot.ts";
import {
  normaliseMounts,
  parseCpus,
  parseDiskGB,
  parseMemory,
  parseTimeout,
  type ResourceLimits,
  validateSchedule,
} from "./sandbox-input.ts";
import type { LiveSandboxes } from "./sandbox-registry.ts";
import { inheritedDefaults, rootRef, type SandboxRoots, templateOf } from "./sandbox-roots.ts";
import type { SandboxTeardown } from "./sandbox-teardown.ts";
import { sandboxView } from "./views.ts";

export interface SandboxLimits extends ResourceLimits {
  maxTimeoutMs: number;
  /** Capacity of an ephemeral root (at least its content plus 1 GB). */
  rootCapacityBytes: number;
  /** Bounds of a persistent sandbox's disk. */
  disk: { minBytes: number; maxBytes: number };
}

export interface SandboxServiceDeps {
  store: Store;
  live: LiveSandboxes;
  roots: SandboxRoots;
  boot: SandboxBoot;
  teardown: SandboxTeardown;
  driver: StorageDriver;
  launcher: SandboxLauncher;
  locks: KeyedLock;
  events: EventLog;
  log: Logger;
  region: string;
  limits: SandboxLimits;
  /** The public URL of a sandbox's exposed port. */
  portUrl: (sandboxId: string, port: number) => string;
}

const _EPHEMERAL = { durable: false } as const;

/**
 * The sandbox lifecycle: create (answering once commands can run), get, list, extend,
 * expose, pause and resume, stop and start (persistent sandboxes), kill.
 *
 * States: `starting → ready ⇄ paused → stopping → stopped`, and for a persistent sandbox
 * `stopped → starting` again. Ending is `SandboxTeardown`'s; the live handles are
 * `LiveSandboxes`'.
 */
export class SandboxService {
  readonly #d: SandboxServiceDeps;

  constructor(deps: SandboxServiceDeps) {
    this.#d = deps;
  }

  async create(orgId: string, input: SandboxCreate): Promise<Sandbox> {
    const d = this.#d;
    const started = Date.now();
    const region = input.region ?? d.region;
    if (region !== d.region)
      throw new StrataError(
        "invalid_region",
        `Unknown region ${q(region)}: this daemon serves ${q(d.region)}`,
      );
    const mounts = normaliseMounts(input.volumes ?? {});
    const timeoutMs =
      input.timeout === undefined ? undefined : parseTimeout(input.timeout, d.limits.maxTimeoutMs);
    const schedule = validateSchedule(input);
    if (input.persistentDiskGB !== undefined && input.persistent !== true)
      throw new StrataError("invalid_disk_size", "persistentDiskGB needs persistent: true");
    const diskBytes = parseDiskGB(input.persistentDiskGB, d.limits.disk);
    const runtime = input.runtime ?? "crun";
    if (runtime !== "crun")
      throw new StrataError(
        "runtime_unavailable",
        `Cannot use runtime ${q(runtime)}: gVisor (runsc) is not installed on this host`,
      );
    d.launcher.validateAllowNet(input.allowNet);

    const root = d.roots.resolve(orgId, input, region);
    if (input.persistent === true && root.kind === "volume")
      throw new StrataError(
        "invalid_root",
        `A sandbox booted from volume ${q(root.volume.slug)} already persists in it; persistent applies to snapshot and image roots`,
      );
    const inherited = inheritedDefaults(root);
    const memory =
      input.memory === undefined && inherited
        ? inherited.memory
        : parseMemory(input.memory, d.limits.memory);
    const cpus =
      input.cpus === undefined && inherited ? inherited.cpus : parseCpus(input.cpus, d.limits.cpus);
    const mounted = mounts.map(([path, ref]) => ({
      path,
      volume: d.roots.mount(orgId, ref, region),
    }));
    const id = newId("sbx");
    const now = new Date();
    const sandbox: SandboxRecord = {
      id,
      orgId,
      region,
      status: "starting",
      stopReason: null,
      root: rootRef(root),
      rootLayer: root.kind === "volume" ? root.volume.id : id,
      mounts: mounted.map((m) => ({
        path: m.path,
        volumeId: m.volume.id,
        volumeSlug: m.volume.slug,
      })),
      labels: input.labels ?? {},
      env: input.env ?? {},
      memory,
      cpus,
      runtime,
      port: input.port ?? null,
      allowNet: input.allowNet ?? null,
      address: null,
      createdAt: now,
      stoppedAt: null,
      expiresAt: timeoutMs === undefined ? null : new Date(now.getTime() + timeoutMs),
      timeoutMs: timeoutMs ?? null,
      template: templateOf(root),
      persistent: input.persistent === true,
      diskBytes: null,
      retained: false,
      schedule:
        schedule.frequency === null ? null : { frequency: schedule.frequency, keep: schedule.keep },
    };

    const attach = [
      ...(root.kind === "volume" ? [root.volume] : []),
      ...mounted.map((m) => m.volume),
    ];
    await d.boot.create(sandbox, { root, attach, diskBytes });
    d.log.info({ sandbox: id, root: root.kind, ms: Date.now() - started }, "Sandbox is ready");
    return this.#view(id);
  }

  async get(orgId: string, id: string): Promise<Sandbox> {
    return this.#view(this.#find(orgId, id).id);
  }

  async list(orgId: string, query: SandboxListQuery): Promise<Page<Sandbox>> {
    const labels: Record<string, string> = {};
    for (const l of query.label === undefined ? [] : [query.label].flat()) {
      const i = l.indexOf("=");
      if (i <= 0)
        throw new StrataError("invalid_labels", `Invalid label filter ${q(l)}: expected key=value`);
      labels[l.slice(0, i)] = l.slice(i + 1);
    }
    const page = this.#d.store.sandboxes.list(orgId, {
      status: query.status,
      labels,
      limit: query.limit,
      cursor: query.cursor,
    });
    return {
      items: page.items.map((s) => sandboxView(s, this.#d.portUrl)),
      nextCursor: page.nextCursor,
    };
  }

  /** Sets a new timeout, counted from now. */
  async update(orgId: string, id: string, input: SandboxUpdate): Promise<Sandbox> {
    const d = this.#d;
    const sandbox = this.#alive(orgId, id, "extend the timeout of");
    const ms = parseTimeout(input.timeout, d.limits.maxTimeoutMs);
    d.store.sandboxes.setExpiry(sandbox.id, new Date(Date.now() + ms));
    d.live.arm(sandbox.id, ms, () => void d.teardown.end(sandbox.id, "timeout"));
    return this.#view(sandbox.id);
  }

  /** Exposes `port` through the daemon's proxy (replacing the exposed port, if any). */
  async expose(orgId: string, id: string, port: number): Promise<Sandbox> {
    const sandbox = this.#alive(orgId, id, "expose a port of");
    this.#d.store.sandboxes.setPort(sandbox.id, port);
    return this.#view(sandbox.id);
  }

  /** Freezes every process of the sandbox (no CPU; memory and connections kept). Idempotent. */
  async pause(orgId: string, id: string): Promise<Sandbox> {
    const d = this.#d;
    using _lock = await d.locks.acquire(this.#find(orgId, id).id);
    const sandbox = this.#find(orgId, id);
    if (sandbox.status === "paused") return this.#view(sandbox.id);
    requireReady(sandbox, "pause");
    await d.launcher.freeze(sandbox.id);
    d.store.sandboxes.setStatus(sandbox.id, "paused");
    d.events.record(
      orgId,
      "sandbox.paused",
      { sandbox: sandbox.id },
      `Sandbox ${sandbox.id} paused`,
    );
    return this.#view(sandbox.id);
  }

  /** Thaws a paused sandbox: its processes go on where they were. Idempotent. */
  async resume(orgId: string, id: string): Promise<Sandbox> {
    const d = this.#d;
    using _lock = await d.locks.acquire(this.#find(orgId, id).id);
    const sandbox = this.#find(orgId, id);
    if (sandbox.status === "ready") return this.#view(sandbox.id);
    if (sandbox.status !== "paused")
      throw new StrataError(
        "sandbox_not_ready",
        `Cannot resume sandbox ${sandbox.id}: it is ${sandbox.status}, not paused`,
      );
    await d.launcher.thaw(sandbox.id);
    d.store.sandboxes.setStatus(sandbox.id, "ready");
    d.events.record(
      orgId,
      "sandbox.resumed",
      { sandbox: sandbox.id },
      `Sandbox ${sandbox.id} resumed`,
    );
    return this.#view(sandbox.id);
  }

  /** Stops a persistent sandbox, keeping its root filesystem for a later start. */
  async stop(orgId: string, id: string): Promise<Sandbox> {
    const sandbox = this.#find(orgId, id);
    if (!sandbox.persistent)
      throw new StrataError(
        "sandbox_not_persistent",
        `Cannot stop sandbox ${sandbox.id}: it is ephemeral (its filesystem would be lost); delete it instead`,
      );
    if (sandbox.status !== "stopped") await this.#d.teardown.end(sandbox.id, "stopped");
    return this.#view(sandbox.id);
  }

  /** Boots a stopped persistent sandbox again from its kept root filesystem. */
  async start(orgId: string, id: string): Promise<Sandbox> {
    const d = this.#d;
    const found = this.#find(orgId, id);
    if (!found.persistent)
      throw new StrataError(
        "sandbox_not_persistent",
        `Cannot start sandbox ${found.id}: only a persistent sandbox can be started again`,
      );
    await d.teardown.waitFor(found.id);
    // The previous run's container (same id) is removed in the background: let it finish.
    await d.launcher.settle();
    using _lock = await d.locks.acquire(found.id);
    const sandbox = this.#find(orgId, id);
    if (sandbox.status !== "stopped" || !sandbox.retained)
      throw new StrataError(
        "sandbox_not_ready",
        sandbox.status === "stopped"
          ? `Cannot start sandbox ${sandbox.id}: it was deleted, and its disk with it`
          : `Cannot start sandbox ${sandbox.id}: it is ${sandbox.status}`,
      );
    const mounted = sandbox.mounts.map((m) => d.roots.mount(orgId, m.volumeId, sandbox.region));
    await d.boot.restart(sandbox, mounted);
    d.events.record(
      orgId,
      "sandbox.started",
      { sandbox: sandbox.id },
      `Sandbox ${sandbox.id} started`,
    );
    return this.#view(sandbox.id);
  }

  /**
   * Kills the sandbox: resolves once none of its processes runs and it is marked stopped.
   * Its container state, network and ephemeral root are removed right after, in the
   * background; a persistent sandbox's disk is deleted before this returns.
   */
  async kill(orgId: string, id: string): Promise<void> {
    const d = this.#d;
    const sandbox = this.#find(orgId, id);
    if (sandbox.status !== "stopped") await d.teardown.end(sandbox.id, "killed");
    if (!sandbox.persistent) return;
    using _lock = await d.locks.acquire(sandbox.id);
    const now = d.store.sandboxes.byId(sandbox.id);
    if (now && now.status !== "stopped")
      throw new StrataError(
        "sandbox_not_ready",
        `Sandbox ${sandbox.id} was started again while it was being deleted; delete it again`,
      );
    if (now?.retained) {
      // The container is removed in the background; its mounts must be gone first.
      await d.launcher.settle();
      await d.driver.remove(now.rootLayer);
      d.store.sandboxes.setRetained(sandbox.id, false);
      d.log.info({ sandbox: sandbox.id }, "Deleted the disk of persistent sandbox");
    }
  }

  /** The organisation's sandbox record; 404 when it has none with that id. */
  find(orgId: string, id: string): SandboxRecord {
    return this.#find(orgId, id);
  }

  /** A sandbox that is ready or paused (alive, whatever its processes are doing). */
  #alive(orgId: string, id: string, what: string): SandboxRecord {
    const sandbox = this.#find(orgId, id);
    if (sandbox.status !== "paused") requireReady(sandbox, what);
    return sandbox;
  }

  #find(orgId: string, id: string): SandboxRecord {
    const sandbox = this.#d.store.sandboxes.find(orgId, id);
    if (!sandbox) throw sandboxNotFound(id);
    return sandbox;
  }

  #view(id: string): Sandbox {
    const sandbox = this.#d.store.sandboxes.byId(id);
    if (!sandbox) throw sandboxNotFound(id);
    return sandboxView(sandbox, this.#d.portUrl);
  }
}
