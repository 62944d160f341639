import type { WebSocket } from "ws";
import type { Proc, StrataPort } from "./strata.ts";

/** What `processWait` answers. */
export interface WaitResult {
  success: boolean;
  code: number;
  signal: string | null;
  oom: null;
}

/** A process started through the Deno API; it belongs to the sandbox, not to a connection. */
export interface ProcEntry {
  readonly proc: Proc;
  /** Settles when the process ended: its status, as the client reads it. */
  readonly status: Promise<WaitResult>;
  ended: boolean;
}

/** Exit statuses kept for `processWait` after the process ended, per sandbox. */
const KEPT_EXITED = 256;
/** How often the sandboxes with open sockets are checked for having ended by other means. */
const WATCH_INTERVAL_MS = 2000;

/** Signal numbers for `128 + signo` exit codes, as a shell reports a killed process. */
const SIGNO: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
};

/** The Deno API's state of one running sandbox: its sockets, processes and environment. */
export class SandboxState {
  readonly orgId: string;
  readonly id: string;
  /** The socket that created a session-mode sandbox: the sandbox ends when it closes. */
  primary: WebSocket | undefined;
  readonly sockets = new Set<WebSocket>();
  readonly processes = new Map<number, ProcEntry>();
  /** Variables set with `envSet`, and base variables removed with `envDelete`. */
  readonly env = new Map<string, string>();
  readonly unset = new Set<string>();
  /** Set once the sandbox is being ended by this layer; resolves when it has. */
  ending: Promise<void> | undefined;
  #exited: number[] = [];

  constructor(orgId: string, id: string) {
    this.orgId = orgId;
    this.id = id;
  }

  /** Registers a started process; its status is kept a while after it ends. */
  track(proc: Proc): ProcEntry {
    const entry: ProcEntry = {
      proc,
      ended: false,
      status: proc.exited.then(
        (s) => waitResult(s),
        // The agent went away (the sandbox ended): the process was killed with it.
        () => waitResult({ code: null, signal: "SIGKILL" }),
      ),
    };
    void entry.status.then(() => {
      entry.ended = true;
      this.#exited.push(proc.pid);
      while (this.#exited.length > KEPT_EXITED) {
        const old = this.#exited.shift()!;
        if (this.processes.get(old)?.ended) this.processes.delete(old);
      }
    });
    this.processes.set(proc.pid, entry);
    return entry;
  }
}

/** `{code, signal}` → `processWait`'s answer: a signal death is `128 + signo`. */
export function waitResult(s: { code: number | null; signal: string | null }): WaitResult {
  if (s.signal !== null) {
    return { success: false, code: 128 + (SIGNO[s.signal] ?? 0), signal: s.signal, oom: null };
  }
  const code = s.code ?? 1;
  return { success: code === 0, code, signal: null, oom: null };
}

/**
 * The sandboxes the Deno API has sockets to. It ends a session-mode sandbox when its
 * primary socket closes (the client closed, crashed or vanished), closes every socket of a
 * sandbox that ended (killed through either API, timed out), and lets console calls wait
 * for a sandbox this layer is still ending (the client's `close()` resolves before the
 * daemon has detached its volumes).
 */
export class Registry {
  readonly #port: StrataPort;
  readonly #log: { warn(obj: object, msg: string): void };
  readonly #states = new Map<string, SandboxState>();
  /** Ends in progress, until they are done (the state itself may be gone by then). */
  readonly #endings = new Map<string, Promise<void>>();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(port: StrataPort, log: { warn(obj: object, msg: string): void }) {
    this.#port = port;
    this.#log = log;
  }

  /** The state of a sandbox, made on first use. */
  state(orgId: string, id: string): SandboxState {
    let st = this.#states.get(id);
    if (!st) {
      st = new SandboxState(orgId, id);
      this.#states.set(id, st);
    }
    return st;
  }

  /** Adds a socket; `primary`: the sandbox ends with it. */
  attach(st: SandboxState, ws: WebSocket, options: { primary: boolean }): void {
    st.sockets.add(ws);
    if (options.primary) st.primary = ws;
    ws.once("close", () => {
      st.sockets.delete(ws);
      // At daemon shutdown every sandbox ends anyway, through the service.
      if (st.primary === ws && !this.#closed) void this.end(st, "the client's session ended");
    });
    this.#timer ??= setInterval(() => void this.#watch(), WATCH_INTERVAL_MS).unref();
  }

  /** Kills the sandbox (once) and closes its sockets; resolves when it has ended. */
  end(st: SandboxState, why: string): Promise<void> {
    st.ending ??= (async () => {
      try {
        await this.#port.killSandbox(st.orgId, st.id);
      } catch (err) {
        // Already gone (killed through the Strata API meanwhile) is fine.
        if ((err as { code?: string }).code !== "sandbox_not_found")
          this.#log.warn({ err, sandbox: st.id }, "Ending a Deno-API sandbox failed");
      }
      this.closeSockets(st, 1000, why);
      this.#states.delete(st.id);
    })();
    const ending = st.ending;
    this.#endings.set(st.id, ending);
    void ending.finally(() => {
      if (this.#endings.get(st.id) === ending) this.#endings.delete(st.id);
    });
    return ending;
  }

  /** Closes every socket of the sandbox (the client's `kill()` waits for this). */
  closeSockets(st: SandboxState, code: number, reason: string): void {
    for (const ws of st.sockets) ws.close(code, reason.slice(0, 120));
  }

  /**
   * Waits for the sandbox to end if this layer is ending it, or its primary socket is
   * closing; returns whether it waited.
   */
  async waitIfEnding(id: string | null): Promise<boolean> {
    if (id === null) return false;
    const ending = this.#endings.get(id);
    if (ending) {
      await ending;
      return true;
    }
    const st = this.#states.get(id);
    const primary = st?.primary;
    // CLOSING or CLOSED: the client has sent its close frame; the end follows its close event.
    if (!st || !primary || primary.readyState < 2) return false;
    if (st.ending === undefined) await new Promise((resolve) => primary.once("close", resolve));
    await this.#endings.get(id);
    return true;
  }

  /**
   * After a call failed with `volume_in_use`: whether the volume is free now, or is once
   * the sandbox holding it (one this layer is ending) has ended — a retry may then pass.
   */
  async released(orgId: string, volumeRef: string): Promise<boolean> {
    const holder = () =>
      this.#port.getVolume(orgId, volumeRef).then(
        (v) => v.attachedTo,
        () => null,
      );
    const before = await holder();
    if (before === null) return true;
    await this.waitIfEnding(before);
    return (await holder()) !== before;
  }

  /** Drops sandboxes that ended by other means, closing their sockets with 1001. */
  async #watch(): Promise<void> {
    if (this.#states.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      return;
    }
    for (const st of [...this.#states.values()]) {
      if (st.ending !== undefined) continue;
      const status = await this.#port.getSandbox(st.orgId, st.id).then(
        (s) => s.status,
        () => "stopped" as const,
      );
      // An end this layer started meanwhile owns the state (and its volumes' release).
      if (status !== "stopped" || st.ending !== undefined) continue;
      this.closeSockets(st, 1001, "sandbox stopped");
      this.#states.delete(st.id);
    }
  }

  /** Daemon shutdown: stops watching (the sandboxes themselves end with the daemon). */
  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    for (const st of this.#states.values()) this.closeSockets(st, 1001, "daemon shutting down");
    this.#states.clear();
  }
}
