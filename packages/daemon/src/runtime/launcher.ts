import type { AgentClient } from "./agent/client.ts";

/** What a sandbox needs from the host to start. */
export interface LaunchSpec {
  id: string;
  rootPath: string;
  mounts: { source: string; destination: string }[];
  env: Record<string, string>;
  memoryBytes: number;
  cpus: number;
  allowNet: string[] | undefined;
  /** Settles when the root filesystem at `rootPath` exists; the launcher prepares the rest meanwhile. */
  rootReady: Promise<void>;
}

/** A running sandbox, as the service sees it. */
export interface SandboxHandle {
  /** The sandbox's address on the daemon's bridge (the port proxy connects to it). */
  address: string;
  /** The channel to the sandbox's PID 1: exec and files. */
  agent: AgentClient;
  /** Resolves when the sandbox's init is gone (it exited, or was killed). */
  exited: Promise<void>;
  /**
   * Variables the runtime gives every command of the sandbox, below the sandbox's own env
   * (where its trust store is, e.g. `NODE_EXTRA_CA_CERTS`). None when absent.
   */
  env?: Record<string, string>;
}

/**
 * Starts and destroys sandboxes on the host: network namespace, OCI bundle, container,
 * agent connection. `launch` either returns a ready sandbox or leaves nothing behind.
 */
export interface SandboxLauncher {
  /** Throws `invalid_allow_net` for a bad allowNet list, before anything is made. */
  validateAllowNet(allowNet: string[] | undefined): void;
  launch(spec: LaunchSpec): Promise<SandboxHandle>;
  /** Stops every process of the sandbox where it is (cgroup freezer); resolves once frozen. */
  freeze(id: string): Promise<void>;
  /** Lets a frozen sandbox's processes go on. */
  thaw(id: string): Promise<void>;
  /**
   * Ends the sandbox `id` (frozen or not) and removes everything `launch` made for it. Resolves once no
   * process of the sandbox runs any more; its container state, cgroups and network (then
   * `release`, e.g. deleting an ephemeral root) are removed in the background, and
   * `settle`, `reconcile` and `close` wait for that. Its address is not handed out again
   * before its network is gone. Idempotent.
   */
  destroy(id: string, options?: { release?: (() => Promise<void>) | undefined }): Promise<void>;
  /** Resolves once the background removals of ended sandboxes are done. */
  settle(): Promise<void>;
  /** Removes containers and networks of sandboxes not in `live` (after a crash). */
  reconcile(live: Set<string>): Promise<string[]>;
  /** Releases host state shared by the sandboxes (after the last one ended). */
  close(): Promise<void>;
}

export { SandboxStartError } from "./start-error.ts";
