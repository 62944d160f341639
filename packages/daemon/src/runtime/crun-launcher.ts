import { join } from "node:path";
import type { Logger } from "../lib/logger.ts";
import { parseAllowNet } from "../network/allow-net.ts";
import type { NetworkManager } from "../network/manager.ts";
import { AgentClient } from "./agent/client.ts";
import type { CrunRuntime } from "./crun.ts";
import { Freezer } from "./freezer.ts";
import { removeCgroupParent } from "./host-setup.ts";
import type { LaunchSpec, SandboxHandle, SandboxLauncher } from "./launcher.ts";
import { buildSandboxSpec, seccompKey, trustEnv, withCompiledSeccomp } from "./oci-spec.ts";
import type { InitProcess } from "./proc-stat.ts";
import { SandboxStartError } from "./start-error.ts";

/** How long an agent gets to end its sandbox before crun kills it. */
const AGENT_END_TIMEOUT_MS = 2000;

export interface CrunLauncherOptions {
  crun: CrunRuntime;
  network: NetworkManager;
  agentPath: string;
  /** cgroups are named `/<prefix>/<sandbox id>` in every hierarchy. */
  prefix: string;
  nofile: number;
  pids: number;
  /** Host file of CA certificates every sandbox trusts (see `SandboxSpecInput.hostCa`); undefined: none. */
  hostCa?: string | undefined;
  log: Logger;
}

/**
 * Launches sandboxes as crun containers: network namespace first, then the OCI bundle,
 * then the container, whose agent must say READY. Any failure undoes the steps before it;
 * a container that does not come up (crun fails, or the agent never says READY) fails
 * with a {@link SandboxStartError}.
 */
export class CrunLauncher implements SandboxLauncher {
  readonly #o: CrunLauncherOptions;
  readonly #agents = new Map<string, AgentClient>();
  readonly #freezer: Freezer;
  readonly #inits = new Map<string, InitProcess>();
  /** crun's compiled seccomp filter by profile (see `withCompiledSeccomp`). */
  readonly #compiled = new Map<string, Buffer>();
  readonly #teardowns = new Set<Promise<void>>();

  constructor(options: CrunLauncherOptions) {
    this.#o = options;
    this.#freezer = new Freezer(options.prefix);
  }

  freeze(id: string): Promise<void> {
    return this.#freezer.freeze(id);
  }

  thaw(id: string): Promise<void> {
    return this.#freezer.thaw(id);
  }

  validateAllowNet(allowNet: string[] | undefined): void {
    if (allowNet !== undefined) parseAllowNet(allowNet);
  }

  async launch(spec: LaunchSpec): Promise<SandboxHandle> {
    const o = this.#o;
    await using stack = new AsyncDisposableStack();
    const [attached, root] = await Promise.allSettled([
      o.network.attach(spec.id, spec.allowNet === undefined ? {} : { allowNet: spec.allowNet }),
      spec.rootReady,
    ]);
    if (attached.status === "fulfilled") stack.defer(() => o.network.detach(spec.id));
    if (root.status === "rejected") throw root.reason;
    if (attached.status === "rejected") throw attached.reason;
    const net = attached.value;

    const hostname = spec.id.replace(/^sbx_/, "sbx-").slice(0, 16);
    const bundle = o.crun.bundleDir(spec.id);
    const base = buildSandboxSpec({
      id: spec.id,
      hostname,
      rootPath: spec.rootPath,
      agentPath: o.agentPath,
      etc: {
        resolvConf: join(bundle, "resolv.conf"),
        hosts: join(bundle, "hosts"),
        hostname: join(bundle, "hostname"),
      },
      mounts: spec.mounts,
      netnsPath: net.netnsPath,
      cgroupsPath: `/${o.prefix}/${spec.id}`,
      limits: { memoryBytes: spec.memoryBytes, cpus: spec.cpus, pids: o.pids },
      nofile: o.nofile,
      env: {},
      hostCa: o.hostCa,
    });
    const profile = seccompKey(base);
    const bpf = this.#compiled.get(profile);
    const config = bpf ? withCompiledSeccomp(base, bpf) : base;
    await o.crun.writeBundle(spec.id, config, {
      "resolv.conf": net.resolvConf,
      hosts: `127.0.0.1\tlocalhost\n${net.address}\t${hostname}\n`,
      hostname: `${hostname}\n`,
    });
    stack.defer(() => o.crun.remove(spec.id));
    const { socket, started } = o.crun.start(spec.id);
    const connecting = AgentClient.connect(socket, { readyTimeoutMs: 15_000 });
    // Both settle: crun's failure (with its message) wins over the socket closing because of it.
    const [run, connected] = await Promise.allSettled([started, connecting]);
    if (run.status === "rejected" || connected.status === "rejected") {
      socket.destroy();
      if (run.status === "rejected") throw run.reason;
      const err = (connected as PromiseRejectedResult).reason;
      throw new SandboxStartError(
        spec.id,
        `its agent did not come up: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
    const agent = connected.value;
    this.#agents.set(spec.id, agent);
    const init = await o.crun.init(spec.id);
    if (init) this.#inits.set(spec.id, init);
    if (!bpf) {
      const compiled = await o.crun.compiledSeccomp(spec.id);
      if (compiled) this.#compiled.set(profile, compiled);
    }
    stack.move();
    return {
      address: net.address,
      agent,
      exited: agent.closed,
      env: trustEnv(o.hostCa !== undefined),
    };
  }

  async destroy(
    id: string,
    options: { release?: (() => Promise<void>) | undefined } = {},
  ): Promise<void> {
    const o = this.#o;
    const agent = this.#agents.get(id);
    const init = this.#inits.get(id);
    this.#agents.delete(id);
    this.#inits.delete(id);
    // A frozen task cannot act on a signal (not even SIGKILL) until it is thawed.
    await this.#freezer.thawIfPresent(id);
    // The agent kills and reaps every process of the sandbox once its connection ends, then
    // exits: its socket closes in its exit path, so the init is awaited too. One that does
    // not end (it hangs, or was never connected) is killed by crun.
    const gone = async () =>
      (await agent?.end(AGENT_END_TIMEOUT_MS).catch(() => false)) === true &&
      init !== undefined &&
      (await o.crun.waitExited(init, AGENT_END_TIMEOUT_MS));
    if (!(await gone())) {
      await o.crun.kill(id, "KILL");
      if (agent && !(await gone()))
        o.log.warn({ sandbox: id }, "The sandbox's init did not exit after SIGKILL");
      await agent?.close().catch(() => {});
    }
    // Nothing runs in the sandbox any more: the rest is bookkeeping the caller need not wait for.
    const teardown = (async () => {
      await Promise.all([o.crun.remove(id), o.network.detach(id)]);
      await options.release?.();
    })().catch((err: unknown) =>
      o.log.error({ err, sandbox: id }, "Could not remove what an ended sandbox left"),
    );
    this.#teardowns.add(teardown);
    void teardown.finally(() => this.#teardowns.delete(teardown));
  }

  async settle(): Promise<void> {
    while (this.#teardowns.size > 0) await Promise.all([...this.#teardowns]);
  }

  async close(): Promise<void> {
    await this.settle();
    await removeCgroupParent(this.#o.prefix);
  }

  async reconcile(live: Set<string>): Promise<string[]> {
    await this.settle();
    const removed: string[] = [];
    for (const id of await this.#o.crun.list()) {
      if (!live.has(id)) {
        await this.#freezer.thawIfPresent(id);
        await this.#o.crun.kill(id, "KILL");
        await this.#o.crun.remove(id);
        removed.push(id);
      }
    }
    removed.push(...(await this.#o.network.reconcile([...live])));
    return removed;
  }
}
