import type { Duplex, Readable } from "node:stream";
import { AgentError } from "./agent-error.ts";
import { AgentConnection } from "./connection.ts";
import {
  type AgentStat,
  type DirEntry,
  openRead,
  readDir,
  toStat,
  type WriteFileOptions,
  writeFile,
} from "./files.ts";
import { deferred } from "./port.ts";
import { AgentProcess } from "./process.ts";
import {
  decodeStat,
  decodeU32,
  encodeExec,
  ID_KEEP,
  MessageType,
  MkdirFlags,
  PayloadWriter,
  ProtocolError,
  RemoveFlags,
  StatFlags,
} from "./protocol.ts";

export { AgentError } from "./agent-error.ts";
export type { AgentStat, DirEntry, FileType, WriteFileOptions } from "./files.ts";
export { AgentProcess, type ExitStatus } from "./process.ts";

export interface ConnectOptions {
  /** How long to wait for the agent's READY; 10 s by default. */
  readyTimeoutMs?: number;
}

export interface ExecOptions {
  /** argv[0] is looked up in `env.PATH` unless it contains a slash. */
  argv: readonly string[];
  /** Working directory inside the sandbox; `/` by default. */
  cwd?: string;
  /** The complete environment of the process. */
  env: Readonly<Record<string, string>>;
  /** Identity to run as; the agent's own when omitted. */
  uid?: number;
  gid?: number;
  /** Whether you will write stdin; otherwise it is /dev/null. */
  stdin?: boolean;
}

/**
 * The daemon's side of one sandbox agent connection (docs/agent-protocol.md): runs
 * commands and file operations inside the sandbox. Operations may run concurrently.
 * When the connection ends, every pending operation rejects with an {@link AgentError}
 * whose code is `agent_gone`, and `closed` resolves.
 *
 * @example
 * const child = spawn(agentPath, [], { stdio: ["ignore", "inherit", "inherit", "pipe"] });
 * const agent = await AgentClient.connect(child.stdio[3] as Duplex);
 * const proc = await agent.exec({ argv: ["echo", "hi"], env: { PATH: "/usr/bin:/bin" } });
 * proc.stdout.pipe(process.stdout);
 * console.log(await proc.exited); // { code: 0, signal: null }
 * await agent.writeFile("/tmp/x", Buffer.from("data"));
 * await agent.close();
 */
export class AgentClient {
  /** Resolves once the connection has closed, for whatever reason. */
  readonly closed: Promise<void>;

  #conn: AgentConnection;

  private constructor(conn: AgentConnection) {
    this.#conn = conn;
    this.closed = conn.closed;
  }

  /**
   * Takes over a connected stream to the agent (fd 3 of its process) and resolves once
   * the agent sent READY; rejects with `agent_gone` if the stream ends or the timeout
   * passes first.
   */
  static async connect(stream: Duplex, options: ConnectOptions = {}): Promise<AgentClient> {
    const conn = new AgentConnection(stream);
    await conn.ready(options.readyTimeoutMs ?? 10_000);
    return new AgentClient(conn);
  }

  /**
   * Starts a command; resolves once it runs, rejects with an {@link AgentError} carrying
   * the errno if it cannot start (ENOENT, EACCES, a bad `cwd`, EPERM for `uid`).
   * Read (or `resume()`) both output streams: `exited` settles only after all output
   * was delivered, and output is flow-controlled.
   */
  exec(options: ExecOptions): Promise<AgentProcess> {
    const what = `Cannot run ${JSON.stringify(options.argv[0] ?? "")}`;
    const started = deferred<AgentProcess>();
    const stdin = options.stdin ?? false;
    const port = this.#conn.open({
      onFrame: (type, payload) => {
        if (type === MessageType.Started) {
          // Synchronously, so that output frames in the same chunk find the process.
          return started.resolve(new AgentProcess(port, { pid: decodeU32(payload), stdin }));
        }
        if (type !== MessageType.Error) throw ProtocolError.unexpected(type, what);
        const error = AgentError.fromPayload(payload, what);
        port.release();
        started.reject(error);
      },
      onGone: (error) => started.reject(error),
    });
    const payload = encodeExec({
      stdin,
      cwd: options.cwd ?? "",
      argv: options.argv,
      env: Object.entries(options.env).map(([k, v]) => `${k}=${v}`),
      uid: options.uid ?? ID_KEEP,
      gid: options.gid ?? ID_KEEP,
    });
    port.send(MessageType.Exec, payload).catch((e) => started.reject(e));
    return started.promise;
  }

  /**
   * Streams a regular file's content. Errors (ENOENT, EISDIR, EINVAL for a FIFO or
   * device, agent_gone) destroy the stream with an {@link AgentError}. Destroying it
   * early cancels the transfer.
   */
  readFile(path: string): Readable {
    const { stream, opened } = openRead(this.#conn, path);
    // Failures to open reach the stream too; `opened` is only for `openFile`.
    opened.catch(() => {});
    return stream;
  }

  /**
   * Opens a regular file for reading: resolves, in one round trip, with the stat of the
   * file that was opened (its size, for a Content-Length) and its content as a stream, or
   * rejects with an {@link AgentError} (ENOENT, EISDIR, EINVAL for a FIFO or device).
   * Read or destroy the stream: the agent sends as the consumer reads.
   */
  async openFile(path: string): Promise<{ stat: AgentStat; stream: Readable }> {
    const { stream, opened } = openRead(this.#conn, path);
    try {
      return { stat: await opened, stream };
    } catch (err) {
      stream.destroy();
      throw err;
    }
  }

  /**
   * Writes a file from bytes or a stream of chunks; resolves once the agent closed it.
   * If `data` throws, the bytes sent so far stay in the file and its error is rethrown.
   */
  writeFile(
    path: string,
    data: AsyncIterable<Uint8Array> | Uint8Array,
    options: WriteFileOptions = {},
  ): Promise<void> {
    return writeFile(this.#conn, path, data, options);
  }

  /** stat(2), or lstat(2) with `noFollow` (which also reads a symlink's target). */
  stat(path: string, options: { noFollow?: boolean } = {}): Promise<AgentStat> {
    const flags = options.noFollow ? StatFlags.NoFollow : 0;
    const payload = new PayloadWriter().u32(flags).str(path).finish();
    return this.#call(MessageType.FsStat, payload, `Cannot stat ${JSON.stringify(path)}`, (p) =>
      toStat(decodeStat(p)),
    );
  }

  /** A directory's entries, without `.` and `..`, in the order the kernel lists them. */
  readDir(path: string): Promise<DirEntry[]> {
    return readDir(this.#conn, path);
  }

  /** mkdir(2); `recursive` creates missing parents and accepts an existing directory. */
  mkdir(path: string, options: { mode?: number; recursive?: boolean } = {}): Promise<void> {
    const flags = options.recursive ? MkdirFlags.Recursive : 0;
    const payload = new PayloadWriter()
      .u32(flags)
      .u32(options.mode ?? 0o755)
      .str(path)
      .finish();
    return this.#call(
      MessageType.FsMkdir,
      payload,
      `Cannot create directory ${JSON.stringify(path)}`,
    );
  }

  /** Removes a file, a symlink or an empty directory; `recursive` removes a tree without following symlinks. */
  remove(path: string, options: { recursive?: boolean } = {}): Promise<void> {
    const flags = options.recursive ? RemoveFlags.Recursive : 0;
    const payload = new PayloadWriter().u32(flags).str(path).finish();
    return this.#call(MessageType.FsRemove, payload, `Cannot remove ${JSON.stringify(path)}`);
  }

  /** rename(2): replaces `to` if it exists. */
  rename(from: string, to: string): Promise<void> {
    const payload = new PayloadWriter().str(from).str(to).finish();
    const what = `Cannot rename ${JSON.stringify(from)} to ${JSON.stringify(to)}`;
    return this.#call(MessageType.FsRename, payload, what);
  }

  /** chmod(2) with the permission bits of `mode`. */
  chmod(path: string, mode: number): Promise<void> {
    const payload = new PayloadWriter().u32(mode).str(path).finish();
    return this.#call(MessageType.FsChmod, payload, `Cannot chmod ${JSON.stringify(path)}`);
  }

  /**
   * Ends the sandbox through its agent: the agent sees the daemon's side of the
   * connection end, kills and reaps every process in the sandbox, and exits, closing its
   * side. Resolves true once it has (nothing of the sandbox runs any more), false if that
   * took longer than `timeoutMs`; pending operations fail with `agent_gone` either way.
   */
  async end(timeoutMs: number): Promise<boolean> {
    return this.#conn.finish(timeoutMs);
  }

  /** Closes the connection; the agent then kills the sandbox's processes and exits. */
  close(): Promise<void> {
    this.#conn.shutdown(AgentError.gone("the client closed the connection"));
    return this.closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #call<T = void>(
    type: MessageType,
    payload: Buffer,
    what: string,
    decode?: (payload: Buffer) => T,
  ): Promise<T> {
    const result = deferred<T>();
    const port = this.#conn.open({
      onFrame: (t, p) => {
        const expected = decode ? MessageType.Stat : MessageType.Ok;
        if (t !== expected && t !== MessageType.Error) throw ProtocolError.unexpected(t, what);
        // Decoded before release: a malformed answer fails the connection, and with it
        // this call.
        const outcome = t === MessageType.Error ? AgentError.fromPayload(p, what) : decode?.(p);
        port.release();
        if (outcome instanceof AgentError) result.reject(outcome);
        else result.resolve(outcome as T);
      },
      onGone: (error) => result.reject(error),
    });
    port.send(type, payload).catch(() => {});
    return result.promise;
  }
}
