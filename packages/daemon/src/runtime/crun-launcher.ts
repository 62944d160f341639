import { join } from "node:path";
import type { Logger } from "../lib/logger.ts";
import { parseAllowNet } from "../network/allow-net.ts";
import type { NetworkManager } from "../network/manager.ts";
import { AgentClient } from "./agent/client.ts";
import type { CrunRuntime } from "./crun.ts";
import { Freezer } from "./freezer.ts";
import { removeCgroupParent } from "./host-setup.ts";
import type { LaunchSpec, SandboxHandle, SandboxLauncher } from "./launcher.ts";
import { buildSandboxSpec } from "./oci-spec.ts";

export interface CrunLauncherOptions {
  crun: CrunRuntime;
  network: NetworkManager;
  agentPath: string;
  /** cgroups are named `/<prefix>/<sandbox id>` in every hierarchy. */
  prefix: string;
  nofile: number;
  pids: number;
  log: Logger;
}

/**
 * Launches sandboxes as crun containers: network namespace first, then the OCI bundle,
 * then the container, whose agent must say READY. Any failure undoes the steps before it.
 */
export class CrunLauncher implements SandboxLauncher {
  readonly #o: CrunLauncherOptions;
  readonly #agents = new Map<string, AgentClient>();
  readonly #freezer: Freezer;

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
    const config = buildSandboxSpec({
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
    });
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
      throw run.status === "rejected" ? run.reason : (connected as PromiseRejectedResult).reason;
    }
    const agent = connected.value;
    this.#agents.set(spec.id, agent);
    stack.move();
    return { address: net.address, agent, exited: agent.closed };
  }

  async destroy(id: string): Promise<void> {
    const o = this.#o;
    const agent = this.#agents.get(id);
    this.#agents.delete(id);
    // A frozen task cannot act on a signal (not even SIGKILL) until it is thawed.
    await this.#freezer.thawIfPresent(id);
    // Closing the agent's socket makes it kill everything and exit; `delete --force` covers
    // an agent that hangs. The network goes at the same time: nothing uses it any more.
    await agent?.close().catch(() => {});
    await Promise.all([o.crun.remove(id), o.network.detach(id)]);
  }

  async close(): Promise<void> {
    await removeCgroupParent(this.#o.prefix);
  }

  async reconcile(live: Set<string>): Promise<string[]> {
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
