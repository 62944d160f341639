import type { ClientErrorCode, ErrorCode, Snapshot } from "@strata/api";

/**
 * Codes the SDK raises itself, beside the daemon's catalogue ({@link ErrorCode}); the
 * contract's `CLIENT_ERROR_CODES` says what each means (and `docs/errors.md` lists them):
 *
 * - `missing_token`: a request needs a token and none was given or found.
 * - `invalid_endpoint`: the endpoint is not an absolute http(s) URL.
 * - `invalid_response`: the daemon answered with a body the SDK cannot read.
 * - `network_error`: the daemon could not be reached at all.
 * - `volume_failed`: a volume being created ended in status `failed`.
 * - `command_failed`: a command run with `sandbox.sh` exited non-zero ({@link CommandError}).
 * - `invalid_output`: a command's output is not what `.json()` asked for.
 * - `connection_closed`: the exec WebSocket closed before the process's exit status arrived.
 * - `invalid_argument`: a value passed to an SDK method cannot be used (an object in `sh`).
 * - `wait_timeout`: a resource was still not settled when a wait's `timeoutMs` ran out.
 *
 * A snapshot that ends `failed` while the SDK waits for it gives the daemon's own code,
 * `snapshot_failed`, as a {@link SnapshotFailedError}.
 */
export type SdkErrorCode = ClientErrorCode;

/** Every code a {@link StrataError} may carry; other strings may appear from newer daemons. */
export type StrataErrorCode = ErrorCode | SdkErrorCode | (string & {});

/**
 * The base of every error the SDK throws on purpose. One `instanceof` tells a Strata
 * failure from a bug; `.code` is a stable snake_case string to branch on.
 *
 * @example
 * ```ts
 * try {
 *   await client.volumes.create({ slug: "data", capacity: "10GB" });
 * } catch (err) {
 *   if (err instanceof StrataError && err.code === "slug_taken") console.log("pick another slug");
 *   else throw err;
 * }
 * ```
 */
export class StrataError extends Error {
  /** Stable snake_case code: the daemon's (`slug_taken`, ...) or the SDK's (`missing_token`, ...). */
  readonly code: StrataErrorCode;

  constructor(code: StrataErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StrataError";
    this.code = code;
  }
}

/** One invalid field of an `invalid_request` error. */
export interface ErrorDetail {
  path: string;
  message: string;
}

/**
 * The daemon answered with an error status. `.code` comes from the daemon's catalogue, or
 * is `invalid_response` when the body was not a Strata error object.
 *
 * @example
 * ```ts
 * try {
 *   await client.volumes.delete("data");
 * } catch (err) {
 *   if (err instanceof ApiError && err.code === "volume_in_use") console.log(err.message);
 *   else throw err;
 * }
 * ```
 */
export class ApiError extends StrataError {
  /** The HTTP status; 0 when the error came as a message on the exec WebSocket. */
  readonly status: number;
  /** The daemon's request id, to find its log lines; from the body or `x-request-id`. */
  readonly requestId: string | undefined;
  /** Per-field details of an `invalid_request` error. */
  readonly details: ErrorDetail[] | undefined;

  constructor(init: {
    status: number;
    code: StrataErrorCode;
    message: string;
    requestId?: string | undefined;
    details?: ErrorDetail[] | undefined;
    cause?: unknown;
  }) {
    super(init.code, init.message, { cause: init.cause });
    this.name = "ApiError";
    this.status = init.status;
    this.requestId = init.requestId;
    this.details = init.details;
  }

  /**
   * @internal
   * Builds the error for a non-2xx response from its status, body text and request id
   * header. A body that is not `{code, message}` JSON gives code `invalid_response`; one
   * with an `errno` (a failed file operation) gives an {@link FsError}.
   */
  static fromResponse(init: {
    status: number;
    body: string;
    url: string;
    requestId?: string | undefined;
  }): ApiError {
    const parsed = parseErrorBody(init.body);
    if (parsed?.errno !== undefined) {
      return new FsError({
        status: init.status,
        code: parsed.code,
        message: parsed.message,
        errno: parsed.errno,
        requestId: parsed.requestId ?? init.requestId,
      });
    }
    if (parsed) {
      return new ApiError({
        status: init.status,
        code: parsed.code,
        message: parsed.message,
        requestId: parsed.requestId ?? init.requestId,
        details: parsed.details,
      });
    }
    const snippet = init.body.trim().slice(0, 200);
    return new ApiError({
      status: init.status,
      code: "invalid_response",
      message: `Request to ${init.url} failed with status ${init.status}, and the body is not a Strata error object${snippet ? `: ${JSON.stringify(snippet)}` : ""}`,
      requestId: init.requestId,
    });
  }
}

/**
 * A file operation inside a sandbox failed. `.errno` names why, as in Node's `fs`:
 * `ENOENT` (code `file_not_found`), `EISDIR`, `ENOTDIR`, `EEXIST`, `EACCES`, `ENOTEMPTY`...
 * (code `file_error`). It is an {@link ApiError}: the daemon answered with it.
 *
 * @example
 * ```ts
 * try {
 *   await sandbox.fs.readTextFile("/etc/missing");
 * } catch (err) {
 *   if (err instanceof FsError && err.errno === "ENOENT") console.log("no such file");
 *   else throw err;
 * }
 * ```
 */
export class FsError extends ApiError {
  /** The errno name of the failure: `ENOENT`, `EISDIR`, `ENOTDIR`, `EEXIST`, `EACCES`... */
  readonly errno: string;
  /** The path inside the sandbox the operation was about, when the SDK knows it. */
  readonly path: string | undefined;

  constructor(init: {
    status: number;
    code: StrataErrorCode;
    message: string;
    errno: string;
    path?: string | undefined;
    requestId?: string | undefined;
    cause?: unknown;
  }) {
    super(init);
    this.name = "FsError";
    this.errno = init.errno;
    this.path = init.path;
  }
}

/** How a process ended: its exit code, or the signal that killed it. */
export interface CommandErrorInit {
  /** The command line as it was sent (for the message). */
  command: string;
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/**
 * A command run with `` sandbox.sh`…` `` exited with a non-zero code or was killed by a
 * signal, and `.noThrow()` was not used. Carries the exit code, signal and output.
 *
 * @example
 * ```ts
 * try {
 *   await sandbox.sh`ls /nope`.quiet();
 * } catch (err) {
 *   if (err instanceof CommandError) console.log(err.exitCode, err.stderr); // 2 "ls: cannot access..."
 *   else throw err;
 * }
 * ```
 */
export class CommandError extends StrataError {
  /** The exit code, or `null` when a signal ended the process. */
  readonly exitCode: number | null;
  /** The signal that ended the process (`"SIGKILL"`), or `null`. */
  readonly signal: string | null;
  /** The command's standard output, decoded as UTF-8. */
  readonly stdout: string;
  /** The command's standard error, decoded as UTF-8. */
  readonly stderr: string;
  /** The command line that failed. */
  readonly command: string;

  constructor(init: CommandErrorInit) {
    const how =
      init.exitCode !== null
        ? `exited with code ${init.exitCode}`
        : `was killed by ${init.signal ?? "a signal"}`;
    const shown = init.command.length > 120 ? `${init.command.slice(0, 117)}...` : init.command;
    const tail = init.stderr.trimEnd().split("\n").slice(-5).join("\n");
    super("command_failed", `Command ${JSON.stringify(shown)} ${how}${tail ? `:\n${tail}` : ""}`);
    this.name = "CommandError";
    this.command = init.command;
    this.exitCode = init.exitCode;
    this.signal = init.signal;
    this.stdout = init.stdout;
    this.stderr = init.stderr;
  }
}

/**
 * A snapshot the SDK was waiting for (`snapshots.waitReady()`, or
 * `sandbox.snapshots.create(init, { wait: true })`) ended in status `failed`. Carries the
 * daemon's `failureReason` and the failed snapshot; code `snapshot_failed`.
 *
 * @example
 * ```ts
 * try {
 *   await sandbox.snapshots.create({ name: "before-upgrade" }, { wait: true });
 * } catch (err) {
 *   if (err instanceof SnapshotFailedError) console.log(err.failureReason); // "no space left on device"
 *   else throw err;
 * }
 * ```
 */
export class SnapshotFailedError extends StrataError {
  /** Why the daemon failed the snapshot, as it reported it; `null` when it gave no reason. */
  readonly failureReason: string | null;
  /** The snapshot, in status `failed`. */
  readonly snapshot: Snapshot;

  constructor(snapshot: Snapshot) {
    super(
      "snapshot_failed",
      `Snapshot ${JSON.stringify(snapshot.slug)} (${snapshot.id}) failed: ${snapshot.failureReason ?? "no reason given"}`,
    );
    this.name = "SnapshotFailedError";
    this.failureReason = snapshot.failureReason;
    this.snapshot = snapshot;
  }
}

/**
 * The daemon could not be reached: connection refused, DNS failure, reset, TLS error.
 *
 * @example
 * ```ts
 * try {
 *   await client.health();
 * } catch (err) {
 *   if (err instanceof NetworkError) console.log(`stratad is down at ${err.endpoint}`);
 *   else throw err;
 * }
 * ```
 */
export class NetworkError extends StrataError {
  /** The endpoint the SDK tried to reach. */
  readonly endpoint: string;

  constructor(endpoint: string, cause: unknown) {
    super(
      "network_error",
      `Cannot reach the Strata daemon at ${endpoint}: ${describeCause(cause)}. Is stratad running there?`,
      { cause },
    );
    this.name = "NetworkError";
    this.endpoint = endpoint;
  }
}

function parseErrorBody(
  text: string,
):
  | { code: string; message: string; requestId?: string; errno?: string; details?: ErrorDetail[] }
  | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.code !== "string" || typeof v.message !== "string") return undefined;
  const details = Array.isArray(v.details)
    ? v.details.filter(
        (d): d is ErrorDetail =>
          typeof d === "object" &&
          d !== null &&
          typeof (d as Record<string, unknown>).path === "string" &&
          typeof (d as Record<string, unknown>).message === "string",
      )
    : undefined;
  return {
    code: v.code,
    message: v.message,
    ...(typeof v.requestId === "string" ? { requestId: v.requestId } : {}),
    ...(typeof v.errno === "string" ? { errno: v.errno } : {}),
    ...(details ? { details } : {}),
  };
}

/** Node's fetch says only "fetch failed"; the useful part (ECONNREFUSED, ...) is in `cause`. */
function describeCause(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e !== undefined && e !== null && depth < 4; depth++) {
    if (e instanceof Error) {
      const code = (e as { code?: unknown }).code;
      if (e.message && e.message !== "fetch failed") parts.push(e.message);
      else if (typeof code === "string") parts.push(code);
      e = e.cause;
    } else {
      parts.push(String(e));
      break;
    }
  }
  return parts.length > 0 ? parts.join(": ") : "fetch failed";
}
