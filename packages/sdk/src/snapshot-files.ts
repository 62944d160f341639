import type { SnapshotDiff, DirEntry as WireDirEntry, FileStat as WireFileStat } from "@strata/api";
import { utf8 } from "./bytes.ts";
import { type DirEntry, type FileInfo, toDirEntry, toFileInfo, withPath } from "./sandbox-fs.ts";
import { seg, type Transport } from "./transport.ts";

/** Options of `snapshots.diff()`. */
export interface SnapshotDiffOptions {
  /** Most paths per list, 1–10000 (default 1000); `truncated` says when more changed. */
  limit?: number;
  signal?: AbortSignal;
}

/**
 * `client.snapshots.files`: files inside a snapshot, read without booting it. Paths are
 * absolute and resolve as if the snapshot were `/`: symlinks (absolute ones too) and `..`
 * never leave it. Failures are {@link FsError}s with an `errno` (`ENOENT`, `ENOTDIR`,
 * `EISDIR`, `ELOOP`); a snapshot that is not `ready` fails with `snapshot_not_ready`.
 *
 * @example
 * ```ts
 * for (const e of await client.snapshots.files.list("app-v1", "/etc")) console.log(e.name);
 * const conf = await client.snapshots.files.readText("app-v1", "/etc/app.conf");
 * ```
 */
export class SnapshotFilesApi {
  readonly #t: Transport;

  /** @internal Use `client.snapshots.files`. */
  constructor(transport: Transport) {
    this.#t = transport;
  }

  /**
   * Lists a directory (following symlinks inside the snapshot).
   *
   * @example
   * ```ts
   * const entries = await client.snapshots.files.list("app-v1", "/srv");
   * console.log(entries.filter((e) => e.isDirectory).map((e) => e.name));
   * ```
   */
  async list(
    snapshot: string,
    path: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<DirEntry[]> {
    const entries = await withPath(path, () =>
      this.#t.json<WireDirEntry[]>("GET", `/snapshots/${seg(snapshot)}/files`, {
        query: { path },
        signal: options.signal,
      }),
    );
    return entries.map(toDirEntry);
  }

  /**
   * Describes a path, following a final symlink unless `noFollow` is set. Owners are the
   * ids a sandbox booted from the snapshot would see.
   *
   * @example
   * ```ts
   * const info = await client.snapshots.files.stat("app-v1", "/usr/bin/python3", { noFollow: true });
   * if (info.isSymlink) console.log("->", info.linkTarget);
   * ```
   */
  async stat(
    snapshot: string,
    path: string,
    options: { noFollow?: boolean; signal?: AbortSignal } = {},
  ): Promise<FileInfo> {
    const s = await withPath(path, () =>
      this.#t.json<WireFileStat>("GET", `/snapshots/${seg(snapshot)}/files/stat`, {
        query: { path, noFollow: options.noFollow || undefined },
        signal: options.signal,
      }),
    );
    return toFileInfo(s);
  }

  /**
   * Opens a regular file for reading as a stream (the `Response`; read its `body`).
   *
   * @example
   * ```ts
   * const res = await client.snapshots.files.readStream("app-v1", "/var/log/app.log");
   * for await (const chunk of res.body!) process.stdout.write(chunk);
   * ```
   */
  readStream(
    snapshot: string,
    path: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<Response> {
    return withPath(path, () =>
      this.#t.stream("GET", `/snapshots/${seg(snapshot)}/files/content`, {
        query: { path },
        signal: options.signal,
      }),
    );
  }

  /**
   * Reads a whole regular file.
   *
   * @example
   * ```ts
   * const bytes = await client.snapshots.files.read("app-v1", "/srv/data.bin");
   * ```
   */
  async read(
    snapshot: string,
    path: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<Uint8Array> {
    const res = await this.readStream(snapshot, path, options);
    return new Uint8Array(await res.arrayBuffer());
  }

  /**
   * Reads a whole regular file as UTF-8 text.
   *
   * @example
   * ```ts
   * const hosts = await client.snapshots.files.readText("app-v1", "/etc/hosts");
   * ```
   */
  async readText(
    snapshot: string,
    path: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<string> {
    return utf8(await this.read(snapshot, path, options));
  }
}

/** @internal `snapshots.diff()`. */
export function diffSnapshots(
  t: Transport,
  base: string,
  to: string,
  options: SnapshotDiffOptions,
): Promise<SnapshotDiff> {
  return t.json<SnapshotDiff>("GET", `/snapshots/${seg(base)}/diff`, {
    query: { to, limit: options.limit },
    signal: options.signal,
  });
}
