/**
 * Test support: a {@link SandboxLauncher} without containers, for testing the services'
 * rules as an ordinary user. Each sandbox is the real strata-agent run as a host process
 * whose fd 3 is a socketpair (as `agent/test-agent.ts` runs it), so exec and file
 * operations go through the real agent protocol.
 *
 * It isolates nothing. The agent and everything it runs are processes of the caller's
 * user in the host's namespaces: paths are the host's (`rootPath` is only the agent's
 * working directory, not its root), `mounts`, `env`, `memoryBytes` and `cpus` are not
 * applied, allowNet is only validated, and every sandbox reports the same loopback
 * address. `freeze` stops the agent and its descendants with SIGSTOP rather than a cgroup
 * freezer, so `thaw` also continues a process that stopped itself, and a process that
 * escapes the agent's tree (reparented above it) escapes the freeze and the kill too;
 * the agent is a subreaper, so orphans of its own commands stay below it.
 */
import { spawn } from "node:child_process";
import type { Duplex } from "node:stream";
import type { Logger } from "../lib/logger.ts";
import { parseAllowNet } from "../network/allow-net.ts";
import { AgentClient } from "./agent/client.ts";
import {
  type LaunchSpec,
  type SandboxHandle,
  type SandboxLauncher,
  SandboxStartError,
} from "./launcher.ts";
import { processTree, waitExited } from "./process-tree.ts";

/** How long an agent gets to end its processes and exit before they are killed. */
const AGENT_END_TIMEOUT_MS = 2000;
const FREEZE_TIMEOUT_MS = 5000;

export interface ProcessLauncherOptions {
  /** The strata-agent binary (`AGENT_PATH` of `agent/test-agent.ts` in this checkout). */
  agentPath: string;
  /** The address every handle reports; `127.0.0.1` by default. */
  address?: string;
  /** How long the agent has to say READY; 5 s by default. */
  readyTimeoutMs?: number;
  /**
   * Makes launches fail on demand. Called for the `n`th call of `launch` (from 1) once its
   * root is ready; a string makes that launch throw a {@link SandboxStartError} with it as
   * the reason, as a failed container start does, before any process starts.
   *
   * @example
   * ```ts
   * const launcher = new ProcessLauncher({ agentPath, failLaunch: (n) => (n === 2 ? "no" : undefined) });
   * ```
   */
  failLaunch?: (n: number, spec: LaunchSpec) => string | undefined;
  /** Where failures of background removals (`release`) go; the console by default. */
  log?: Pick<Logger, "warn" | "error">;
}

interface Running {
  pid: number;
  agent: AgentClient;
  exited: Promise<void>;
}

const consoleLog: Pick<Logger, "warn" | "error"> = {
  warn: (obj, msg) => console.warn(msg, obj),
  error: (obj, msg) => console.error(msg, obj),
};

export class ProcessLauncher implements SandboxLauncher {
  readonly #o: ProcessLauncherOptions;
  readonly #log: Pick<Logger, "warn" | "error">;
  readonly #running = new Map<string, Running>();
  readonly #starting = new Set<string>();
  readonly #teardowns = new Set<Promise<void>>();
  #launches = 0;

  constructor(options: ProcessLauncherOptions) {
    this.#o = options;
    this.#log = options.log ?? consoleLog;
  }

  /** The pid of sandbox `id`'s agent while it runs (for tests that look at its processes). */
  pidOf(id: string): number | undefined {
    return this.#running.get(id)?.pid;
  }

  validateAllowNet(allowNet: string[] | undefined): void {
    if (allowNet !== undefined) parseAllowNet(allowNet);
  }

  async launch(spec: LaunchSpec): Promise<SandboxHandle> {
    const n = ++this.#launches;
    const duplicate = this.#running.has(spec.id) || this.#starting.has(spec.id);
    if (!duplicate) this.#starting.add(spec.id);
    try {
      // First, as the crun launcher does: a root that fails is the reason, whatever else is wrong.
      await spec.rootReady;
      if (duplicate) throw new Error(`Cannot launch sandbox ${spec.id}: it is already running`);
      this.validateAllowNet(spec.allowNet);
      const injected = this.#o.failLaunch?.(n, spec);
      if (injected !== undefined) throw new SandboxStartError(spec.id, injected);
      const running = await this.#start(spec);
      this.#running.set(spec.id, running);
      return {
        address: this.#o.address ?? "127.0.0.1",
        agent: running.agent,
        exited: running.exited,
      };
    } finally {
      if (!duplicate) this.#starting.delete(spec.id);
    }
  }

  async #start(spec: LaunchSpec): Promise<Running> {
    // Its own process group, so that a terminal's signals to the test runner do not reach
    // it; it ends when its socket closes, whoever closes it.
    const child = spawn(this.#o.agentPath, [], {
      cwd: spec.rootPath,
      env: {},
      stdio: ["ignore", "inherit", "inherit", "pipe"],
      detached: true,
    });
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    try {
      await new Promise<void>((resolve, reject) => {
        child.once("spawn", resolve);
        child.once("error", reject);
      });
    } catch (err) {
      throw new SandboxStartError(spec.id, `its agent did not start: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const pid = child.pid!;
    try {
      const agent = await AgentClient.connect(child.stdio[3] as Duplex, {
        readyTimeoutMs: this.#o.readyTimeoutMs ?? 5000,
      });
      return { pid, agent, exited };
    } catch (err) {
      child.kill("SIGKILL");
      await exited;
      throw new SandboxStartError(
        spec.id,
        `its agent did not say READY: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  /** Stops the agent and every process below it; resolves once all of them are stopped. */
  async freeze(id: string): Promise<void> {
    return stopTree(id, this.#get(id, "freeze").pid);
  }

  async thaw(id: string): Promise<void> {
    const s = this.#get(id, "thaw");
    for (const pid of (await processTree(s.pid)).keys()) signal(pid, "SIGCONT");
  }

  async destroy(
    id: string,
    options: { release?: (() => Promise<void>) | undefined } = {},
  ): Promise<void> {
    const s = this.#running.get(id);
    this.#running.delete(id);
    if (s) await this.#end(id, s);
    const teardown = (async () => {
      await options.release?.();
    })().catch((err: unknown) =>
      this.#log.error({ err, sandbox: id }, "Could not remove what an ended sandbox left"),
    );
    this.#teardowns.add(teardown);
    void teardown.finally(() => this.#teardowns.delete(teardown));
  }

  /**
   * Ends a sandbox's processes: its agent kills and reaps them all when its connection
   * ends, then exits. One that does not is frozen (so nothing forks any more) and every
   * process of its tree killed; they are not the launcher's children once their parent
   * died, so their end is watched in /proc.
   */
  async #end(id: string, s: Running): Promise<void> {
    // A stopped agent cannot act on its connection ending.
    for (const pid of (await processTree(s.pid)).keys()) signal(pid, "SIGCONT");
    const ended = await s.agent.end(AGENT_END_TIMEOUT_MS).catch(() => false);
    if (ended && (await within(s.exited, AGENT_END_TIMEOUT_MS))) return;
    this.#log.warn({ sandbox: id }, "The sandbox's agent did not end its processes; killing them");
    await stopTree(id, s.pid).catch(() => {});
    const tree = await processTree(s.pid);
    for (const pid of tree.keys()) signal(pid, "SIGKILL");
    await s.exited;
    await s.agent.close().catch(() => {});
    const procs = [...tree].map(([pid, p]) => ({ pid, startTime: p.startTime }));
    const left = await waitExited(procs, AGENT_END_TIMEOUT_MS);
    if (left.length > 0)
      this.#log.warn({ sandbox: id, pids: left }, "Processes of the sandbox survived SIGKILL");
  }

  async settle(): Promise<void> {
    while (this.#teardowns.size > 0) await Promise.all([...this.#teardowns]);
  }

  /** Ends the sandboxes this launcher runs that are not in `live` (nothing else is its own). */
  async reconcile(live: Set<string>): Promise<string[]> {
    await this.settle();
    const removed = [...this.#running.keys()].filter((id) => !live.has(id)).sort();
    for (const id of removed) await this.destroy(id);
    await this.settle();
    return removed;
  }

  /** Waits for the background removals; a sandbox still running is ended, with a warning. */
  async close(): Promise<void> {
    for (const id of [...this.#running.keys()]) {
      this.#log.warn({ sandbox: id }, "Ending a sandbox still running at close");
      await this.destroy(id);
    }
    await this.settle();
  }

  #get(id: string, what: string): Running {
    const s = this.#running.get(id);
    if (!s) throw new Error(`Cannot ${what} sandbox ${id}: it is not running`);
    return s;
  }
}

/**
 * SIGSTOPs `root` and its descendants and resolves once all of them are stopped. A process
 * may fork between a look at the tree and its SIGSTOP, so the tree is read again until a
 * look finds nothing new and everything stopped; on a timeout they are continued again.
 */
async function stopTree(id: string, root: number): Promise<void> {
  // By pid and start time: a pid reused meanwhile is another process.
  const signalled = new Map<string, number>();
  const deadline = performance.now() + FREEZE_TIMEOUT_MS;
  for (;;) {
    const tree = await processTree(root);
    const fresh = [...tree].filter(([pid, p]) => !signalled.has(`${pid}:${p.startTime}`));
    for (const [pid, p] of fresh) {
      signal(pid, "SIGSTOP");
      signalled.set(`${pid}:${p.startTime}`, pid);
    }
    // D counts: a task in an uninterruptible wait stops before it runs any more of its own
    // code, and one may never leave it while another is stopped (dash's vfork() parent
    // waits in D until its stopped child execs).
    const busy = [...tree].filter(([, p]) => !/^[TtZXD]/.test(p.state));
    if (fresh.length === 0 && busy.length === 0) return;
    if (performance.now() > deadline) {
      for (const pid of signalled.values()) signal(pid, "SIGCONT");
      const which = busy.map(([pid, p]) => `${pid} ${p.state}`).join(", ");
      throw new Error(`Cannot freeze sandbox ${id}: its processes did not all stop (${which})`);
    }
    // SIGSTOP takes effect asynchronously and there is no event for it: look again soon.
    if (fresh.length === 0) await new Promise((r) => setTimeout(r, 1));
  }
}

/** Sends a signal to a process that may have exited meanwhile. */
function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
  }
}

async function within(p: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  return Promise.race([p.then(() => true as const), timeout]).finally(() => clearTimeout(timer));
}
