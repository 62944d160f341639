/**
 * @module
 * `@strata/sdk`: the TypeScript client for Strata, shaped like `@deno/sandbox`.
 *
 * @example
 * ```ts
 * import { Client, StrataError } from "@strata/sdk";
 *
 * const client = new Client();
 * const volume = await client.volumes.create({ slug: "data", capacity: "10GB", from: "builtin:debian-13" });
 * const snapshot = await client.volumes.snapshot(volume.slug, { slug: "data-v1" });
 *
 * await using sandbox = await client.sandboxes.create({ root: snapshot.slug });
 * const who = await sandbox.sh`whoami`.text();
 * await sandbox.fs.writeTextFile("/root/hello.txt", `hello ${who}`);
 * ```
 */
export type {
  BuiltinImage,
  DiffSide,
  DoctorCheck,
  DoctorReport,
  ErrorCode,
  Event,
  EventType,
  Health,
  Image,
  ImageStatus,
  Org,
  OrgUpdate,
  ResourceRef,
  RuntimeName,
  Sandbox as SandboxInfo,
  SandboxRoot,
  SandboxSnapshotCreate,
  SandboxStatus,
  Snapshot,
  SnapshotCreate,
  SnapshotDiff,
  SnapshotKind,
  SnapshotMode,
  SnapshotSource,
  SnapshotStatus,
  SnapshotUpdate,
  Volume,
  VolumeBase,
  VolumeRestore,
  VolumeStatus,
} from "@strata/api";
/** Size helpers of the wire contract: `parseSize("10GB")`, `formatSize(1_500_000_000)` → `"1.5 GB"`. */
// The sizes module alone: the SDK does not load zod at run time.
export { formatSize, parseSize } from "@strata/api/sizes";
// The contract's closed sets of values (statuses, kinds, modes, event types), zod-free too.
export {
  EVENT_TYPES,
  RUNTIMES,
  SANDBOX_STATUSES,
  SNAPSHOT_KINDS,
  SNAPSHOT_MODES,
  SNAPSHOT_STATUSES,
} from "@strata/api/values";
export type { ByteStream } from "./bytes.ts";
export { ChildProcess } from "./child-process.ts";
export { Client, type ClientOptions } from "./client.ts";
export {
  CommandBuilder,
  type CommandOutput,
  type CommandStatus,
} from "./command.ts";
export { DEFAULT_DATA_DIR, DEFAULT_ENDPOINT } from "./config.ts";
export {
  ApiError,
  CommandError,
  type ErrorDetail,
  FsError,
  NetworkError,
  type SdkErrorCode,
  SnapshotFailedError,
  StrataError,
  type StrataErrorCode,
} from "./errors.ts";
export type { EventListOptions, Events } from "./events.ts";
export type { Images } from "./images.ts";
export type { OrgSettings } from "./org.ts";
export { type ListOptions, PaginatedList } from "./paginated-list.ts";
export { type ExecOptions, Sandbox, type SandboxOptions } from "./sandbox.ts";
export type { DirEntry, FileInfo, SandboxFs, WriteFileOptions } from "./sandbox-fs.ts";
export type { SandboxSnapshotCreateOptions, SandboxSnapshots } from "./sandbox-snapshots.ts";
export type { Sandboxes, SandboxListOptions } from "./sandboxes.ts";
export { escapeShellArg, type ShellValue } from "./shell.ts";
export type { SnapshotDiffOptions, SnapshotFilesApi } from "./snapshot-files.ts";
export type { SnapshotWaitOptions } from "./snapshot-wait.ts";
export type { SnapshotChanges, SnapshotListOptions, Snapshots } from "./snapshots.ts";
export type { VolumeCreateOptions, VolumeInit, Volumes } from "./volumes.ts";
