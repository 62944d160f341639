import { z } from "zod";

/**
 * The shapes the official `@deno/sandbox` client (0.13.2) puts on the wire and expects back
 * (see docs/deno-compat.md). Every value read from the client is bounded here.
 */

/** The most bytes of one WebSocket message from the client (a whole `writeFile` travels in one). */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;
/** The largest file `readFile`/`readTextFile` return in one message (base64 adds a third). */
export const MAX_READ_BYTES = 48 * 1024 * 1024;
const Int = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** The `x-deno-sandbox-config` header, base64 of Latin-1 JSON. */
export const SandboxConfig = z.object({
  memory_mb: z
    .number()
    .int()
    .min(1)
    .max(1024 * 1024)
    .optional(),
  stop_at_ms: z.number().int().positive().optional().nullable(),
  labels: z.record(z.string().max(256), z.string().max(1024)).optional().nullable(),
  root: z
    .object({ volume: z.string().min(1).max(64) })
    .optional()
    .nullable(),
  volumes: z
    .array(z.object({ volume: z.string().min(1).max(64), path: z.string().min(1).max(255) }))
    .max(32)
    .optional()
    .nullable(),
  allow_net: z.array(z.string().max(300)).max(256).optional().nullable(),
  secrets: z.record(z.string().max(256), z.unknown()).optional().nullable(),
});
export type SandboxConfig = z.infer<typeof SandboxConfig>;

/**
 * Decodes the config header: standard base64 of the client's `btoa(JSON.stringify(...))`,
 * whose bytes are Latin-1 (one byte per UTF-16 code unit), not UTF-8. Returns the parsed
 * config, or a message saying what is wrong with it.
 */
export function decodeConfig(header: string): SandboxConfig | string {
  if (header.length > 16 * 1024 || !/^[A-Za-z0-9+/]*={0,2}$/.test(header) || header.length % 4)
    return "the x-deno-sandbox-config header is not base64";
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(header, "base64").toString("latin1"));
  } catch {
    return "the x-deno-sandbox-config header is base64 but not JSON";
  }
  const parsed = SandboxConfig.safeParse(json);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  return `the x-deno-sandbox-config header is invalid at ${issue?.path.join(".") || "its top level"}: ${issue?.message ?? "malformed"}`;
}

/** One JSON-RPC 2.0 frame from the client: a request (with an id) or a notification. */
export const RpcFrame = z.object({
  jsonrpc: z.literal("2.0"),
  id: z.union([z.number().int(), z.string().max(64)]).optional(),
  method: z.string().min(1).max(64),
  params: z.record(z.string(), z.unknown()).optional().nullable(),
});
export type RpcFrame = z.infer<typeof RpcFrame>;

export const StreamStart = z.object({ streamId: Int });
export const StreamEnqueue = z.object({ streamId: Int, data: z.string() });
export const StreamEnd = z.object({ streamId: Int });
export const StreamFail = z.object({ streamId: Int }).passthrough();

/** JSON-RPC error codes the client knows. */
export const RPC = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internal: -32603,
} as const;

/** An error as the client rebuilds it (`constructorName` picks the class; `code` is err.code). */
export interface SerializedError {
  constructorName: string;
  message: string;
  code: string | null;
  name: string | null;
}

/** Deno's error classes for the errno names a Linux file or process operation reports. */
const ERRNO_CLASS: Record<string, string> = {
  ENOENT: "NotFound",
  EACCES: "PermissionDenied",
  EPERM: "PermissionDenied",
  EEXIST: "AlreadyExists",
  EISDIR: "IsADirectory",
  ENOTDIR: "NotADirectory",
  ELOOP: "FilesystemLoop",
  EBUSY: "Busy",
  ENOTEMPTY: "Error",
  ECONNREFUSED: "ConnectionRefused",
  EINVAL: "TypeError",
};

/** A serialized error carrying `errno` as its code (`NotFound` + `ENOENT`, ...). */
export function errnoError(errno: string, message: string): SerializedError {
  return { constructorName: ERRNO_CLASS[errno] ?? "Error", message, code: errno, name: null };
}

/** A plain error with a Strata error code (`not_supported`, `sandbox_not_running`, ...). */
export function codeError(
  code: string,
  message: string,
  constructorName = "Error",
): SerializedError {
  return { constructorName, message, code, name: null };
}

/** What an aborted operation answers (the client rebuilds a DOMException AbortError). */
export function abortError(): SerializedError {
  return {
    constructorName: "DOMException",
    message: "The signal has been aborted",
    code: null,
    name: "AbortError",
  };
}

/**
 * Stat as Deno's `FileInfo`: every field present, dates as strings. Strata's stat has no
 * atime, ctime, birth time or inode numbers of its own; those take the modification time
 * and zero.
 */
export function fileInfo(s: {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: string;
}): Record<string, unknown> {
  const typeBits =
    s.type === "file"
      ? 0o100000
      : s.type === "directory"
        ? 0o040000
        : s.type === "symlink"
          ? 0o120000
          : 0;
  return {
    isFile: s.type === "file",
    isDirectory: s.type === "directory",
    isSymlink: s.type === "symlink",
    size: s.size,
    mtime: s.mtime,
    atime: s.mtime,
    birthtime: s.mtime,
    ctime: s.mtime,
    mode: typeBits | (s.mode & 0o7777),
    dev: 0,
    ino: 0,
    nlink: 1,
    uid: s.uid,
    gid: s.gid,
    rdev: 0,
    blksize: 4096,
    blocks: Math.ceil(s.size / 512),
    isBlockDevice: false,
    isCharDevice: false,
    isFifo: false,
    isSocket: false,
  };
}
