import type { Store } from "../db/store.ts";
import type { SandboxHandle } from "../runtime/launcher.ts";

/**
 * The sandboxes running in this daemon process: their launcher handles (agent channel,
 * address) and timeout timers. A record in the store says what a sandbox is; an entry here
 * says it is alive now. Entries come and go with the lifecycle (`add` once ready, `remove`
 * when it starts to end).
 */
export class LiveSandboxes {
  readonly #records: Store["sandboxes"];
  readonly #live = new Map<string, { handle: SandboxHandle; timer: NodeJS.Timeout | undefined }>();

  constructor(records: Store["sandboxes"]) {
    this.#records = records;
  }

  add(id: string, handle: SandboxHandle): void {
    this.#live.set(id, { handle, timer: undefined });
  }

  /** Forgets a sandbox that is ending, and its timer. */
  remove(id: string): void {
    clearTimeout(this.#live.get(id)?.timer);
    this.#live.delete(id);
  }

  handle(id: string): SandboxHandle | undefined {
    return this.#live.get(id)?.handle;
  }

  has(id: string): boolean {
    return this.#live.has(id);
  }

  /** (Re)arms the sandbox's timeout: `onExpiry` runs `ms` from now unless re-armed or removed. */
  arm(id: string, ms: number, onExpiry: () => void): void {
    const live = this.#live.get(id);
    if (!live) return;
    clearTimeout(live.timer);
    // setTimeout caps at 2^31-1 ms; longer timeouts re-arm.
    const step = Math.min(Math.max(ms, 0), 2 ** 31 - 1);
    live.timer = setTimeout(
      () => (step < ms ? this.arm(id, ms - step, onExpiry) : onExpiry()),
      step,
    );
    live.timer.unref();
  }

  /**
   * Where the port proxy sends a request for `<hostId>-<port>`: a running, ready sandbox
   * that exposes that port; undefined otherwise.
   */
  resolvePort(hostId: string, port: number): { address: string; port: number } | undefined {
    const id = `sbx_${hostId}`;
    const live = this.#live.get(id);
    const record = live && this.#records.byId(id);
    if (!live || !record || record.status !== "ready" || record.port !== port) return undefined;
    return { address: live.handle.address, port };
  }
}
