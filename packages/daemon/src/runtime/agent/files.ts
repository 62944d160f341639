/**
 * The agent client's file transfers (docs/agent-protocol.md, "Files"): reading a file as
 * a flow-controlled stream, writing one from bytes or chunks, and listing a directory.
 * {@link AgentClient} exposes them; the types here are its public types.
 */
import type { Readable } from "node:stream";
import { AgentError } from "./agent-error.ts";
import type { AgentConnection } from "./connection.ts";
import { CreditedStream } from "./credited-stream.ts";
import { deferred } from "./port.ts";
import {
  decodeDirents,
  decodeStat,
  FILE_CHUNK,
  MessageType,
  PayloadWriter,
  ProtocolError,
  WriteFlags,
} from "./protocol.ts";

export type FileType = "file" | "directory" | "symlink" | "other";

export interface AgentStat {
  type: FileType;
  /** The full st_mode, type bits included. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtimeMs: number;
  atimeMs: number;
  ctimeMs: number;
  nlink: number;
  /** A symlink's target when stat'ed with `noFollow`, else null. */
  linkTarget: string | null;
}

export interface DirEntry {
  name: string;
  type: FileType;
}

export interface WriteFileOptions {
  /** Permission bits of a file this creates (the agent's umask applies); 0o644 by default. */
  mode?: number;
  /** Create the file when missing; true by default. */
  create?: boolean;
  /** Append instead of truncating. */
  append?: boolean;
  /** Fail with EEXIST when the file exists. */
  exclusive?: boolean;
}

const DIRENT_TYPES: readonly FileType[] = ["other", "file", "directory", "symlink", "other"];

const MODE_TYPES: ReadonlyMap<number, FileType> = new Map([
  [0o100000, "file"],
  [0o040000, "directory"],
  [0o120000, "symlink"],
]);

function fileType(mode: number): FileType {
  return MODE_TYPES.get(mode & 0o170000) ?? "other";
}

export function toStat({ linkTarget, ...raw }: ReturnType<typeof decodeStat>): AgentStat {
  return { type: fileType(raw.mode), ...raw, linkTarget: linkTarget === "" ? null : linkTarget };
}

function windowPayload(out: number, err: number): Buffer {
  return new PayloadWriter().u32(out).u32(err).finish();
}

async function* chunksOf(data: AsyncIterable<Uint8Array> | Uint8Array): AsyncGenerator<Uint8Array> {
  if (data instanceof Uint8Array) {
    yield data;
    return;
  }
  for await (const chunk of data) yield typeof chunk === "string" ? Buffer.from(chunk) : chunk;
}

/** Opens `path` for reading: its stat once open, and its content as a stream. */
export function openRead(
  conn: AgentConnection,
  path: string,
): { stream: Readable; opened: Promise<AgentStat> } {
  const what = `Cannot read ${JSON.stringify(path)}`;
  const opened = deferred<AgentStat>();
  let isOpen = false;
  const stream: CreditedStream = new CreditedStream({
    grant: (n) => port.send(MessageType.Window, windowPayload(n, 0)).catch(() => {}),
    onCancel: () => {
      port.release();
      port.send(MessageType.FsEnd).catch(() => {});
    },
    batch: FILE_CHUNK,
  });
  const fail = (error: AgentError) => {
    opened.reject(error);
    stream.fail(error, { ifListened: !isOpen });
  };
  const port = conn.open({
    onFrame: (type, payload) => {
      if (type === MessageType.Stat && !isOpen) {
        isOpen = true;
        return opened.resolve(toStat(decodeStat(payload)));
      }
      if (!isOpen && type !== MessageType.Error) throw ProtocolError.unexpected(type, what);
      if (type === MessageType.FsData) return stream.push(payload);
      if (type === MessageType.FsEnd) {
        port.release();
        return stream.end();
      }
      if (type !== MessageType.Error) throw ProtocolError.unexpected(type, what);
      const error = AgentError.fromPayload(payload, what);
      port.release();
      fail(error);
    },
    onGone: (error) => fail(error),
  });
  port.send(MessageType.FsRead, new PayloadWriter().str(path).finish()).catch(() => {});
  return { stream: stream.readable, opened: opened.promise };
}

/** See `AgentClient.writeFile`. */
export async function writeFile(
  conn: AgentConnection,
  path: string,
  data: AsyncIterable<Uint8Array> | Uint8Array,
  options: WriteFileOptions = {},
): Promise<void> {
  const what = `Cannot write ${JSON.stringify(path)}`;
  const flags =
    (options.create === false ? 0 : WriteFlags.Create) |
    (options.append ? WriteFlags.Append : WriteFlags.Truncate) |
    (options.exclusive ? WriteFlags.Exclusive | WriteFlags.Create : 0);
  const result = deferred<void>();
  let settled = false;
  const port = conn.open({
    onFrame: (type, payload) => {
      const error = type === MessageType.Error ? AgentError.fromPayload(payload, what) : undefined;
      if (!error && type !== MessageType.Ok) throw ProtocolError.unexpected(type, what);
      settled = true;
      port.release();
      if (error) result.reject(error);
      else result.resolve();
    },
    onGone: (error) => {
      settled = true;
      result.reject(error);
    },
  });
  const open = new PayloadWriter()
    .u32(flags)
    .u32(options.mode ?? 0o644)
    .str(path)
    .finish();
  try {
    await port.send(MessageType.FsWrite, open);
    for await (const chunk of chunksOf(data)) {
      for (let at = 0; at < chunk.length && !settled; at += FILE_CHUNK) {
        await port.send(MessageType.FsData, chunk.subarray(at, at + FILE_CHUNK));
      }
      if (settled) break;
    }
  } catch (error) {
    if (settled) return result.promise;
    // The agent must close its descriptor either way.
    port.release();
    port.send(MessageType.FsEnd).catch(() => {});
    throw error;
  }
  if (!settled) await port.send(MessageType.FsEnd).catch(() => {});
  return result.promise;
}

/** See `AgentClient.readDir`. */
export function readDir(conn: AgentConnection, path: string): Promise<DirEntry[]> {
  const what = `Cannot list ${JSON.stringify(path)}`;
  const result = deferred<DirEntry[]>();
  const entries: DirEntry[] = [];
  const port = conn.open({
    onFrame: (type, payload) => {
      if (type === MessageType.Dirents) {
        for (const e of decodeDirents(payload)) {
          entries.push({ name: e.name, type: DIRENT_TYPES[e.type] ?? "other" });
        }
        return;
      }
      if (type !== MessageType.FsEnd && type !== MessageType.Error)
        throw ProtocolError.unexpected(type, what);
      const error = type === MessageType.Error ? AgentError.fromPayload(payload, what) : undefined;
      port.release();
      if (error) result.reject(error);
      else result.resolve(entries);
    },
    onGone: (error) => result.reject(error),
  });
  port.send(MessageType.FsReadDir, new PayloadWriter().str(path).finish()).catch(() => {});
  return result.promise;
}
