import { constants } from "node:fs";
import { open, readdir, readlink } from "node:fs/promises";
import type { Readable } from "node:stream";
import type { DirEntry, FileStat } from "@strata/api";
import type { SnapshotRecord } from "../db/records.ts";
import type { Store } from "../db/store.ts";
import { q, StrataError } from "../errors.ts";
import { type ConfinedPath, ConfinedPathError, resolveConfined } from "../lib/confined-path.ts";
import { SANDBOX_ID_BASE, SANDBOX_ID_COUNT } from "../runtime/oci-spec.ts";
import { LayerNotFoundError, type StorageDriver } from "../storage/driver.ts";
import { snapshotNotFound } from "./refusals.ts";

/** The id a sandbox sees for a host id outside its user namespace's map (the kernel's overflow id). */
const OVERFLOW_ID = 65_534;

export interface SnapshotFilesDeps {
  store: Store;
  driver: StorageDriver;
}

/**
 * Files inside read-only snapshots, read by the daemon without booting anything.
 *
 * Snapshot content was written by sandbox code, so it is hostile: every path is resolved
 * inside the snapshot as if it were `/` (`resolveConfined`: symlinks and `..` never leave
 * it, loops fail with ELOOP), the final file is opened with O_NOFOLLOW and checked to be
 * the regular file that was resolved, and only regular files are read (a FIFO would block
 * the daemon). Snapshots never change, so what was checked is what is read. Owners are
 * reported as the sandbox sees them (the user namespace's ids), like the sandbox files API.
 */
export class SnapshotFiles {
  readonly #d: SnapshotFilesDeps;
  constructor(deps: SnapshotFilesDeps) {
    this.#d = deps;
  }

  async stat(orgId: string, idOrSlug: string, path: string, noFollow: boolean): Promise<FileStat> {
    const { entry } = await this.#resolve(orgId, idOrSlug, path, !noFollow);
    const s = entry.stats;
    return {
      path,
      type: s.isFile()
        ? "file"
        : s.isDirectory()
          ? "directory"
          : s.isSymbolicLink()
            ? "symlink"
            : "other",
      mode: s.mode & 0o7777,
      uid: sandboxId(s.uid),
      gid: sandboxId(s.gid),
      size: s.size,
      mtime: s.mtime.toISOString(),
      linkTarget: s.isSymbolicLink() ? await readlink(entry.hostPath) : null,
    };
  }

  async readDir(orgId: string, idOrSlug: string, path: string): Promise<DirEntry[]> {
    const { entry } = await this.#resolve(orgId, idOrSlug, path, true);
    if (!entry.stats.isDirectory()) throw fileError("ENOTDIR", path, "it is not a directory");
    const entries = await readdir(entry.hostPath, { withFileTypes: true });
    return entries
      .map((e) => ({
        name: e.name,
        type: e.isFile()
          ? ("file" as const)
          : e.isDirectory()
            ? ("directory" as const)
            : e.isSymbolicLink()
              ? ("symlink" as const)
              : ("other" as const),
      }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Opens a regular file for streaming; the stream closes the file when it ends. */
  async open(
    orgId: string,
    idOrSlug: string,
    path: string,
  ): Promise<{ size: number; stream: Readable }> {
    const { entry } = await this.#resolve(orgId, idOrSlug, path, true);
    if (entry.stats.isDirectory()) throw fileError("EISDIR", path, "it is a directory");
    if (!entry.stats.isFile()) throw fileError("EINVAL", path, "it is not a regular file");
    // O_NONBLOCK: should anything but a regular file be met after all, open must not wait.
    const fh = await open(
      entry.hostPath,
      constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY,
    ).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ELOOP") throw fileError("ELOOP", path, "it is a symbolic link");
      throw err;
    });
    const s = await fh.stat();
    if (!s.isFile() || s.ino !== entry.stats.ino || s.dev !== entry.stats.dev) {
      await fh.close();
      throw fileError("EINVAL", path, "it is not a regular file");
    }
    return { size: s.size, stream: fh.createReadStream() };
  }

  async #resolve(
    orgId: string,
    idOrSlug: string,
    path: string,
    followFinal: boolean,
  ): Promise<{ snapshot: SnapshotRecord; entry: ConfinedPath }> {
    if (!path.startsWith("/") || path.includes("\0")) {
      throw new StrataError(
        "invalid_request",
        `Invalid path ${q(path)}: give an absolute path inside the snapshot`,
      );
    }
    const snapshot = this.#d.store.snapshots.find(orgId, idOrSlug);
    if (!snapshot) throw snapshotNotFound(idOrSlug);
    if (snapshot.status !== "ready") {
      throw new StrataError(
        "snapshot_not_ready",
        `Cannot read files of snapshot ${q(snapshot.slug)}: it is ${snapshot.status}`,
      );
    }
    try {
      const root = await this.#d.driver.livePath(snapshot.id);
      return { snapshot, entry: await resolveConfined(root, path, { followFinal }) };
    } catch (err) {
      if (err instanceof LayerNotFoundError)
        throw new StrataError(
          "snapshot_not_found",
          `Snapshot ${q(idOrSlug)} was deleted meanwhile`,
        );
      if (err instanceof ConfinedPathError) {
        if (err.code === "ENOENT")
          throw new StrataError("file_not_found", `No such file or directory: ${q(path)}`, {
            errno: "ENOENT",
          });
        throw fileError(
          err.code,
          path,
          err.code === "ELOOP"
            ? "too many levels of symbolic links"
            : "a component of the path is not a directory",
        );
      }
      throw err;
    }
  }
}

function fileError(errno: string, path: string, why: string): StrataError {
  return new StrataError("file_error", `Cannot read ${q(path)}: ${why} (${errno})`, { errno });
}

function sandboxId(hostId: number): number {
  return hostId >= SANDBOX_ID_BASE && hostId < SANDBOX_ID_BASE + SANDBOX_ID_COUNT
    ? hostId - SANDBOX_ID_BASE
    : OVERFLOW_ID;
}
