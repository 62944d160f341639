import type { RuntimeName, SnapshotMode } from "@strata/api";

/** What a sandbox is created with (the body of `POST /v1/sandboxes`); every field is optional. */
export interface SandboxOptions {
  /**
   * The root filesystem: a bootable volume (writable and kept; one sandbox at a time) or a
   * snapshot (an ephemeral copy), by id or slug. Default: `builtin:debian-13`, ephemeral.
   * Exclusive with `fromSnapshot`.
   */
  root?: string;
  /**
   * Restore a snapshot (id or slug): boot from a copy of it. A snapshot of a sandbox also
   * brings its `template` and, unless given here, its `memory` and `cpus`. Exclusive with
   * `root`.
   */
  fromSnapshot?: string;
  /**
   * Keep the root filesystem across `sandbox.stop()` and `sandbox.start()`; it is deleted
   * with the sandbox (`kill()`). Default `false`: the sandbox can only be killed.
   */
  persistent?: boolean;
  /** A persistent sandbox's disk size in GB (10^9 bytes). Default: the daemon's root capacity. */
  persistentDiskGB?: number;
  /**
   * `"manual"` (default): snapshots only when asked. `"automatic"`: also on the
   * `snapshotFrequency` schedule.
   */
  snapshotMode?: SnapshotMode;
  /**
   * When automatic snapshots are taken: a five-field cron expression such as `"0 * * * *"`.
   * Required with `snapshotMode: "automatic"`, refused otherwise.
   */
  snapshotFrequency?: string;
  /**
   * Keep only the newest N automatic snapshots (1–1000); older unprotected ones are deleted.
   * Automatic mode only.
   */
  snapshotKeep?: number;
  /** Volumes to mount: absolute path → volume id or slug, e.g. `{ "/data": "my-dataset" }`. */
  volumes?: Record<string, string>;
  /** Up to 10 labels to find the sandbox by (`sandboxes.list({ labels })`). */
  labels?: Record<string, string>;
  /** Environment of every command run in the sandbox. */
  env?: Record<string, string>;
  /** Kill the sandbox after this long: `"30m"`, `"600s"`, `"2h"`. Default: lives until killed. */
  timeout?: string;
  /** Memory limit: bytes or a size such as `"1GiB"` (default 1 GiB). */
  memory?: number | string;
  /** CPU limit in cores, e.g. `0.5` (default 1). */
  cpus?: number;
  /** An HTTP port inside the sandbox to expose at `sandbox.url`. */
  port?: number;
  /** Egress allow-list: `"host"`, `"*.domain"`, `"host:port"`, IPs, CIDRs; `[]` means none. */
  allowNet?: string[];
  /** Defaults to the daemon's region. */
  region?: string;
  /** `"crun"` (default) or `"runsc"` (gVisor, where installed). */
  runtime?: RuntimeName;
  /** Stops waiting for the sandbox to start. */
  signal?: AbortSignal;
}
