/**
 * The closed sets of values of the contract (statuses, kinds, modes, event types), without
 * zod: the SDK and the CLI import them at run time from `@strata/api/values`.
 */

/**
 * What the daemon did on its own, or refused to do: scheduled snapshot ticks and skips,
 * snapshots that became ready or failed, the reaper's deletions, pauses and stops.
 */
export const EVENT_TYPES = [
  "snapshot.tick",
  "snapshot.skipped",
  "snapshot.ready",
  "snapshot.failed",
  "snapshot.pruned",
  "snapshot.expired",
  "sandbox.paused",
  "sandbox.resumed",
  "sandbox.stopped",
  "sandbox.started",
] as const;

/**
 * A sandbox's life: `starting → ready ⇄ paused → stopping → stopped`. A persistent
 * sandbox can go from `stopped` back to `starting` (`POST /v1/sandboxes/{id}/start`).
 */
export const SANDBOX_STATUSES = ["starting", "ready", "paused", "stopping", "stopped"] as const;

export const RUNTIMES = ["crun", "runsc"] as const;

export const SNAPSHOT_MODES = ["manual", "automatic"] as const;

export const SNAPSHOT_KINDS = ["volume", "sandbox"] as const;

export const SNAPSHOT_STATUSES = ["creating", "ready", "failed"] as const;
