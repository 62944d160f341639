import type { DirEntry as WireDirEntry, FileStat as WireFileStat } from "@strata/api";
import { encodeUtf8, utf8 } from "./bytes.ts";
import { FsError } from "./errors.ts";
import { downloadPath, uploadPath } from "./host-transfer.ts";
import { seg, type Transport } from "./transport.ts";

/** One entry of a directory listing. */
export interface DirEntry {
  name: string;
  isFile: boolean;
  isDirectory: boolean;
  isSymlink: boolean;
}

/** What `stat()` tells about a path inside the sandbox. */
export interface FileInfo {
  isFile: boolean;
  isDirectory: boolean;
  isSymlink: boolean;
  /** Size in bytes. */
  size: number;
  /** Permission bits, e.g. `0o644`. */
  mode: number;
  mtime: Date;
  uid: number;
  gid: number;
  /** Where a symlink points (from `lstat()`), else `null`. */
  linkTarget: string | null;
}

/** Options of `writeFile()` and `writeTextFile()`. */
export interface WriteFileOptions {
  /** Permission bits of a new file (default `0o644`). */
  mode?: number;
  /** Add to the end instead of replacing the content. */
  append?: boolean;
  signal?: AbortSignal;
}

/**
 * `sandbox.fs`: files inside a running sandbox, by absolute path. Contents stream both
 * ways, so large files never sit whole in the daemon's memory. Failures are
 * {@link FsError}s with an `errno` (`ENOENT`, `EISDIR`, ...).
 *
 * @example
 * ```ts
 * await sandbox.fs.writeTextFile("/srv/hello.txt", "hi");
 * console.log(await sandbox.fs.readTextFile("/srv/hello.txt"));
 * ```
 */
export class SandboxFs {
  readonly #t: Transport;
  readonly #base: string;

  /** @internal Use `sandbox.fs`. */
  constructor(transport: Transport, sandboxId: string) {
    this.#t = transport;
    this.#base = `/sandboxes/${seg(sandboxId)}/files`;
  }

  /**
   * Reads a whole file.
   *
   * @example
   * ```ts
   * const png = await sandbox.fs.readFile("/srv/chart.png"); // Uint8Array
   * ```
   */
  async readFile(path: string, options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    const res = await this.readFileStream(path, options);
    return new Uint8Array(await res.arrayBuffer());
  }

  /**
   * Opens a file for reading as a stream (the `Response` of the download; read its `body`).
   *
   * @example
   * ```ts
   * const res = await sandbox.fs.readFileStream("/var/log/big.log");
   * for await (const chunk of res.body!) process.stdout.write(chunk);
   * ```
   */
  readFileStream(path: string, options: { signal?: AbortSignal } = {}): Promise<Response> {
    return withPath(path, () =>
      this.#t.stream("GET", `${this.#base}/content`, { query: { path }, signal: options.signal }),
    );
  }

  /**
   * Reads a whole file as UTF-8 text.
   *
   * @example
   * ```ts
   * const hosts = await sandbox.fs.readTextFile("/etc/hosts");
   * ```
   */
  async readTextFile(path: string, options: { signal?: AbortSignal } = {}): Promise<string> {
    return utf8(await this.readFile(path, options));
  }

  /**
   * Writes a file from bytes, a Blob or a stream, creating or replacing it (parent
   * folders must exist).
   *
   * @example
   * ```ts
   * await sandbox.fs.writeFile("/srv/data.bin", new Uint8Array([1, 2, 3]));
   * await sandbox.fs.writeFile("/srv/copy.iso", (await fetch(isoUrl)).body!);
   * ```
   */
  async writeFile(
    path: string,
    data: Uint8Array | Blob | ReadableStream<Uint8Array>,
    options: WriteFileOptions = {},
  ): Promise<void> {
    await withPath(path, () =>
      this.#t.stream("PUT", `${this.#base}/content`, {
        query: { path, mode: options.mode, append: options.append },
        body: data as BodyInit,
        signal: options.signal,
      }),
    );
  }

  /**
   * Writes a file from text (UTF-8).
   *
   * @example
   * ```ts
   * await sandbox.fs.writeTextFile("/etc/motd", "Welcome\n");
   * await sandbox.fs.writeTextFile("/var/log/app.log", "line\n", { append: true });
   * ```
   */
  writeTextFile(path: string, text: string, options: WriteFileOptions = {}): Promise<void> {
    return this.writeFile(path, encodeUtf8(text), options);
  }

  /**
   * Makes a directory; `recursive` also makes missing parents and accepts an existing one.
   *
   * @example
   * ```ts
   * await sandbox.fs.mkdir("/srv/app/static", { recursive: true });
   * ```
   */
  async mkdir(
    path: string,
    options: { recursive?: boolean; mode?: number; signal?: AbortSignal } = {},
  ): Promise<void> {
    await withPath(path, () =>
      this.#t.request("POST", `${this.#base}/mkdir`, {
        body: { path, recursive: options.recursive, mode: options.mode },
        signal: options.signal,
      }),
    );
  }

  /**
   * Lists a directory.
   *
   * @example
   * ```ts
   * for (const entry of await sandbox.fs.readDir("/etc")) {
   *   if (entry.isDirectory) console.log(`${entry.name}/`);
   * }
   * ```
   */
  async readDir(path: string, options: { signal?: AbortSignal } = {}): Promise<DirEntry[]> {
    const entries = await withPath(path, () =>
      this.#t.json<WireDirEntry[]>("GET", `${this.#base}/list`, {
        query: { path },
        signal: options.signal,
      }),
    );
    return entries.map(toDirEntry);
  }

  /**
   * Describes a path, following a final symlink.
   *
   * @example
   * ```ts
   * const info = await sandbox.fs.stat("/srv/data.bin");
   * console.log(info.size, info.mode.toString(8), info.mtime.toISOString());
   * ```
   */
  stat(path: string, options: { signal?: AbortSignal } = {}): Promise<FileInfo> {
    return this.#stat(path, false, options.signal);
  }

  /**
   * Describes a path without following a final symlink.
   *
   * @example
   * ```ts
   * const info = await sandbox.fs.lstat("/usr/bin/python3");
   * if (info.isSymlink) console.log("->", info.linkTarget);
   * ```
   */
  lstat(path: string, options: { signal?: AbortSignal } = {}): Promise<FileInfo> {
    return this.#stat(path, true, options.signal);
  }

  /**
   * Whether a path exists (following a final symlink).
   *
   * @example
   * ```ts
   * if (!(await sandbox.fs.exists("/srv/app"))) await sandbox.fs.mkdir("/srv/app");
   * ```
   */
  async exists(path: string, options: { signal?: AbortSignal } = {}): Promise<boolean> {
    try {
      await this.stat(path, options);
      return true;
    } catch (err) {
      if (err instanceof FsError && err.errno === "ENOENT") return false;
      throw err;
    }
  }

  /**
   * Removes a file or an empty directory; `recursive` removes a directory with its content
   * (never following symlinks).
   *
   * @example
   * ```ts
   * await sandbox.fs.remove("/tmp/build", { recursive: true });
   * ```
   */
  async remove(
    path: string,
    options: { recursive?: boolean; signal?: AbortSignal } = {},
  ): Promise<void> {
    await withPath(path, () =>
      this.#t.request("DELETE", this.#base, {
        query: { path, recursive: options.recursive },
        signal: options.signal,
      }),
    );
  }

  /**
   * Renames or moves a path.
   *
   * @example
   * ```ts
   * await sandbox.fs.rename("/srv/app.new", "/srv/app");
   * ```
   */
  async rename(from: string, to: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    await withPath(from, () =>
      this.#t.request("POST", `${this.#base}/rename`, {
        body: { from, to },
        signal: options.signal,
      }),
    );
  }

  /**
   * Changes a path's permission bits.
   *
   * @example
   * ```ts
   * await sandbox.fs.chmod("/srv/run.sh", 0o755);
   * ```
   */
  async chmod(path: string, mode: number, options: { signal?: AbortSignal } = {}): Promise<void> {
    await withPath(path, () =>
      this.#t.request("POST", `${this.#base}/chmod`, {
        body: { path, mode },
        signal: options.signal,
      }),
    );
  }

  /**
   * Copies a file or directory from this machine into the sandbox, streaming each file
   * and keeping permission bits. A directory is walked and recreated under `sandboxPath`
   * (made with its parents); symlinks and special files are skipped. Node only.
   *
   * @example
   * ```ts
   * await sandbox.fs.upload("./site", "/srv/site");
   * ```
   */
  async upload(
    hostPath: string,
    sandboxPath: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<void> {
    await uploadPath(this, hostPath, sandboxPath, options.signal);
  }

  /**
   * Copies a file or directory from the sandbox to this machine, streaming each file and
   * keeping permission bits. A directory is walked and recreated under `hostPath`;
   * symlinks and special files are skipped. Node only.
   *
   * @example
   * ```ts
   * await sandbox.fs.download("/srv/out", "./out");
   * ```
   */
  async download(
    sandboxPath: string,
    hostPath: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<void> {
    await downloadPath(this, sandboxPath, hostPath, options.signal);
  }

  async #stat(path: string, noFollow: boolean, signal: AbortSignal | undefined): Promise<FileInfo> {
    const s = await withPath(path, () =>
      this.#t.json<WireFileStat>("GET", `${this.#base}/stat`, {
        query: { path, noFollow: noFollow || undefined },
        signal,
      }),
    );
    return toFileInfo(s);
  }
}

/** @internal A listing entry as the SDK gives it (sandbox files and snapshot files alike). */
export function toDirEntry(e: WireDirEntry): DirEntry {
  return {
    name: e.name,
    isFile: e.type === "file",
    isDirectory: e.type === "directory",
    isSymlink: e.type === "symlink",
  };
}

/** @internal A stat as the SDK gives it. */
export function toFileInfo(s: WireFileStat): FileInfo {
  return {
    isFile: s.type === "file",
    isDirectory: s.type === "directory",
    isSymlink: s.type === "symlink",
    size: s.size,
    mode: s.mode,
    mtime: new Date(s.mtime),
    uid: s.uid,
    gid: s.gid,
    linkTarget: s.linkTarget,
  };
}

/** @internal Runs a file operation on `path`; a file error learns which path it was about. */
export async function withPath<T>(path: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof FsError && err.path === undefined) {
      throw new FsError({
        status: err.status,
        code: err.code,
        message: err.message,
        errno: err.errno,
        path,
        requestId: err.requestId,
        cause: err.cause,
      });
    }
    throw err;
  }
}
