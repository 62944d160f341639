import { mkdir, open, stat, statfs } from "node:fs/promises";
import { join } from "node:path";
import { run } from "../../lib/exec.ts";
import { isMountPoint, restrictToGroup, unmountBelow } from "../../lib/mounts.ts";

const BTRFS_SUPER_MAGIC = 0x9123683e;

export interface Pool {
  /** Where the driver keeps its layers. */
  root: string;
  /** The btrfs mount point the root lives on. */
  mount: string;
  /** Unmounts the pool image (a configured pool stays mounted). */
  close(): Promise<void>;
}

export interface PoolOptions {
  dataDir: string;
  /** An existing btrfs mount to use instead of an image file. */
  pool?: string | undefined;
  /** Size of the sparse image file made when no pool is given. */
  sizeBytes: number;
  /** Folder under an existing pool that belongs to this daemon. */
  prefix: string;
  /** The group allowed to traverse to the layers (the sandboxes' mapped root); default: root only. */
  accessGid?: number | undefined;
  log?: (msg: string) => void;
}

/**
 * Opens the daemon's btrfs pool: the configured btrfs mount, or a sparse image file in
 * the data dir, formatted on first use and loop-mounted at `<data-dir>/pool`. The driver
 * turns quotas on (capacities are qgroup limits).
 */
export async function openPool(options: PoolOptions): Promise<Pool> {
  const log = options.log ?? (() => {});
  if (options.pool !== undefined) {
    const fs = await statfs(options.pool).catch(() => null);
    if (fs?.type !== BTRFS_SUPER_MAGIC) {
      throw new Error(
        `Cannot use pool ${JSON.stringify(options.pool)}: it is not a mounted btrfs filesystem`,
      );
    }
    const root = join(options.pool, options.prefix);
    await mkdir(root, { recursive: true, mode: 0o700 });
    if (options.accessGid !== undefined) await restrictToGroup(root, options.accessGid);
    return { root, mount: options.pool, close: async () => {} };
  }

  const image = join(options.dataDir, "pool.img");
  const mount = join(options.dataDir, "pool");
  await mkdir(mount, { recursive: true, mode: 0o700 });
  if (options.accessGid !== undefined) await restrictToGroup(mount, options.accessGid);
  // The mount at <data-dir>/pool belongs to this daemon even when a crashed predecessor
  // made it, so shutdown always releases it.
  if (!(await isMountPoint(mount))) {
    if (!(await stat(image).catch(() => null))) {
      log(`Creating a ${options.sizeBytes}-byte sparse btrfs pool image at ${image}`);
      const fh = await open(image, "wx", 0o600);
      await fh.truncate(options.sizeBytes);
      await fh.close();
      await run(["mkfs.btrfs", "-q", "-L", "strata-pool", image]);
    }
    await run(["mount", "-o", "loop,noatime", image, mount]);
  }
  const root = join(mount, "strata");
  await mkdir(root, { recursive: true, mode: 0o700 });
  // The mount point's own mode is hidden by the mounted filesystem's root folder.
  if (options.accessGid !== undefined) {
    await restrictToGroup(mount, options.accessGid);
    await restrictToGroup(root, options.accessGid);
  }
  return {
    root,
    mount,
    close: async () => {
      await unmountBelow(mount);
      await run(["umount", mount]);
    },
  };
}
