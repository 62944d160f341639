import type { EventType, SandboxStatus, SnapshotKind, SnapshotMode } from "@strata/sdk";

/**
 * The values of the contract's unions, for option validation and help. The CLI does not
 * load the contract's zod schemas at run time, so it lists them here; `complete()` makes a
 * value added to the contract a type error until it is added to its list too.
 */
function complete<T extends string>() {
  return <const L extends readonly T[]>(
    list: L & ([Exclude<T, L[number]>] extends [never] ? unknown : never),
  ): L => list;
}

export const SANDBOX_STATUSES = complete<SandboxStatus>()([
  "starting",
  "ready",
  "paused",
  "stopping",
  "stopped",
]);

export const SNAPSHOT_KINDS = complete<SnapshotKind>()(["volume", "sandbox"]);

export const SNAPSHOT_MODES = complete<SnapshotMode>()(["manual", "automatic"]);

export const EVENT_TYPES = complete<EventType>()([
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
]);
