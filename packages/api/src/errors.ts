/**
 * The error contract shared by stratad, the SDK and the CLI.
 *
 * Every failure the API reports has a **kind** (a closed set, mapped to an HTTP status in
 * exactly one place in the daemon) and a **code** (an open, documented catalogue of stable
 * snake_case strings that clients may branch on). `docs/errors.md` lists every code; a test
 * keeps that page and {@link ERROR_CODES} in sync.
 *
 * @example
 * ```json
 * HTTP/1.1 409 Conflict
 * { "code": "slug_taken", "message": "Cannot create volume \"data\": the slug is already used by volume vol_123" }
 * ```
 */
import { NAME_RULES } from "./rules.ts";

/** The closed set of error kinds. */
export const ERROR_KINDS = [
  "InvalidArgument",
  "Unauthenticated",
  "NotFound",
  "PayloadTooLarge",
  "AlreadyExists",
  "Conflict",
  "FailedPrecondition",
  "Unavailable",
  "Internal",
] as const;
export type ErrorKind = (typeof ERROR_KINDS)[number];

/** The HTTP status of each kind. */
export const KIND_STATUS: Record<ErrorKind, number> = {
  InvalidArgument: 400,
  Unauthenticated: 401,
  NotFound: 404,
  PayloadTooLarge: 413,
  AlreadyExists: 409,
  Conflict: 409,
  FailedPrecondition: 409,
  Unavailable: 503,
  Internal: 500,
};

/** Every stable error code, its kind, and what it means (the source of docs/errors.md). */
export const ERROR_CODES = {
  invalid_request: [
    "InvalidArgument",
    "The request body, query or path failed validation (a wrong type, an unknown field, a malformed body).",
  ],
  payload_too_large: [
    "PayloadTooLarge",
    "The request body is larger than the route accepts (1 MiB for JSON bodies).",
  ],
  invalid_slug: [
    "InvalidArgument",
    `A volume's or snapshot's slug breaks the naming rule: ${NAME_RULES}.`,
  ],
  invalid_capacity: [
    "InvalidArgument",
    "A capacity is not a byte count or size string, or is outside the daemon's limits.",
  ],
  invalid_region: ["InvalidArgument", "The region is not one this daemon serves."],
  invalid_source: ["InvalidArgument", "A `from` value is neither a builtin image nor a snapshot."],
  invalid_mount_path: [
    "InvalidArgument",
    "A volume mount path is not a normalised absolute path, is reserved, or overlaps another.",
  ],
  invalid_labels: [
    "InvalidArgument",
    "Too many labels, or a key or value out of the documented limits.",
  ],
  invalid_env: ["InvalidArgument", "An environment variable name or value is not valid."],
  invalid_timeout: [
    "InvalidArgument",
    'A timeout is not a duration such as "30m", or is too long.',
  ],
  invalid_limits: ["InvalidArgument", "A memory or cpus limit is malformed or out of range."],
  invalid_port: ["InvalidArgument", "A port is not between 1 and 65535."],
  invalid_allow_net: [
    "InvalidArgument",
    "An allowNet entry is not a host, *.domain, host:port, IP or CIDR.",
  ],
  root_not_bootable: [
    "FailedPrecondition",
    "The root volume or snapshot has no operating system (it was not made from a bootable source).",
  ],
  runtime_unavailable: [
    "FailedPrecondition",
    "The requested runtime is not installed on this host.",
  ],
  unauthenticated: [
    "Unauthenticated",
    "The Authorization header is missing, malformed, or holds an unknown token.",
  ],
  org_mismatch: [
    "Unauthenticated",
    "The organisation named by the request (the Deno client's X-Deno-Org) is not the token's.",
  ],
  not_supported: [
    "InvalidArgument",
    "The Deno-compatible API was asked for something Strata does not offer (secrets, SSH, VS Code, deploy, Deno runtime calls).",
  ],
  not_found: ["NotFound", "No route matches the request."],
  volume_not_found: ["NotFound", "No volume with that id or slug exists in the organisation."],
  snapshot_not_found: ["NotFound", "No snapshot with that id or slug exists in the organisation."],
  image_not_found: ["NotFound", "No builtin image has that name."],
  slug_taken: [
    "AlreadyExists",
    "The slug is already used by a volume or snapshot of the organisation.",
  ],
  region_mismatch: [
    "FailedPrecondition",
    "The source snapshot lives in another region than the one requested.",
  ],
  volume_not_ready: [
    "FailedPrecondition",
    "The volume is still being created or has failed, so it cannot be used yet.",
  ],
  snapshot_not_ready: [
    "FailedPrecondition",
    "The snapshot is still being created or has failed, so nothing can start from it.",
  ],
  snapshot_failed: [
    "FailedPrecondition",
    "The snapshot failed (its `failureReason` says why), so nothing can start from it.",
  ],
  snapshot_in_progress: [
    "Conflict",
    "A snapshot of this sandbox is already being taken; only one may be in flight.",
  ],
  snapshot_protected: ["FailedPrecondition", "The snapshot is protected; unprotect it first."],
  invalid_snapshot_name: [
    "InvalidArgument",
    "A sandbox snapshot's name breaks the naming rule, the same as for slugs (see `invalid_slug`).",
  ],
  invalid_snapshot_schedule: [
    "InvalidArgument",
    "snapshotMode, snapshotFrequency (a five-field cron expression) or snapshotKeep is invalid or inconsistent.",
  ],
  invalid_retention: [
    "InvalidArgument",
    'A retention is not a duration such as "30d", "12h", "90m", "45s", or "never".',
  ],
  invalid_disk_size: [
    "InvalidArgument",
    "persistentDiskGB is not a number within the daemon's capacity limits, or is given without persistent.",
  ],
  invalid_root: [
    "InvalidArgument",
    "root and fromSnapshot were both given, or fromSnapshot names a volume.",
  ],
  volume_in_use: ["Conflict", "The volume is attached to a sandbox."],
  snapshot_not_of_volume: [
    "InvalidArgument",
    "A volume can only be restored from a snapshot taken of that same volume.",
  ],
  diff_target_not_found: [
    "NotFound",
    "The `to` of a diff names no snapshot or volume of the organisation.",
  ],
  sandbox_not_found: ["NotFound", "No sandbox with that id exists in the organisation."],
  sandbox_not_running: [
    "FailedPrecondition",
    "The sandbox has stopped (or is stopping), so nothing can run in it.",
  ],
  sandbox_paused: [
    "FailedPrecondition",
    "The sandbox is paused: resume it before running commands, touching files or snapshotting it.",
  ],
  sandbox_not_ready: [
    "FailedPrecondition",
    "The sandbox is starting, stopping or stopped; the operation needs it ready (or, for start, stopped and persistent).",
  ],
  sandbox_not_persistent: [
    "FailedPrecondition",
    "Only a persistent sandbox can be stopped and started again; delete an ephemeral one.",
  ],
  sandbox_start_failed: [
    "Unavailable",
    "The sandbox's container did not come up (the OCI runtime failed, or its agent never became ready); the message gives the runtime's reason.",
  ],
  file_not_found: ["NotFound", "A path inside the sandbox or snapshot does not exist (ENOENT)."],
  file_error: [
    "InvalidArgument",
    "A file operation inside the sandbox or snapshot failed; `errno` names why (EACCES, ENOTDIR, EISDIR, ELOOP, EEXIST, ...).",
  ],
  image_build_failed: [
    "FailedPrecondition",
    "Building the builtin image failed; the reason is in the message.",
  ],
  sandbox_port_unreachable: [
    "Unavailable",
    "The port proxy found the sandbox, but nothing answered on its port.",
  ],
  pool_full: ["Unavailable", "The storage pool has no space left for the operation."],
  shutting_down: ["Unavailable", "The daemon is shutting down and accepts no new work."],
  internal: [
    "Internal",
    "An unexpected failure; details are in the daemon's log under the request id.",
  ],
} as const satisfies Record<string, readonly [ErrorKind, string]>;

export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * Codes that clients raise themselves and the daemon never answers with: the SDK's
 * (`@strata/sdk` `SdkErrorCode`), documented in `docs/errors.md` beside the daemon's.
 */
export const CLIENT_ERROR_CODES = {
  missing_token:
    "A request needs a token and none was given or found (STRATA_TOKEN, the admin token file).",
  invalid_endpoint: "The endpoint is not an absolute http(s) URL.",
  invalid_response:
    "The daemon answered with a body the client cannot read (is the endpoint a Strata daemon?).",
  network_error:
    "The daemon could not be reached at all: connection refused, DNS failure, reset, TLS error.",
  volume_failed: "A volume being created ended in status `failed`; its `failureReason` says why.",
  command_failed:
    "A command run with `sandbox.sh` exited non-zero or was killed (a `CommandError`).",
  invalid_output: "A command's output is not what `.json()` asked for.",
  connection_closed: "The exec WebSocket closed before the process's exit status arrived.",
  invalid_argument: "A value passed to an SDK method cannot be used (an object in `sh`).",
  wait_timeout: "A resource was still not settled when a wait's `timeoutMs` ran out.",
} as const satisfies Record<string, string>;

export type ClientErrorCode = keyof typeof CLIENT_ERROR_CODES;

/** The body of every error response. */
export interface ApiErrorBody {
  /** Stable snake_case code from {@link ERROR_CODES}. */
  code: ErrorCode;
  /** Human-readable: what failed, then why, with the offending value quoted. */
  message: string;
  /** The request id, to find the matching daemon log lines. */
  requestId?: string;
  /** The errno name of a failed file operation (`file_not_found`, `file_error`). */
  errno?: string;
  /** Per-field details for `invalid_request`. */
  details?: { path: string; message: string }[];
}

/** The kind of a code. */
export function kindOf(code: ErrorCode): ErrorKind {
  return ERROR_CODES[code][0];
}
