/**
 * Pure argv builders for btrfs-progs; run by the driver through `run()`. What lies on a
 * sandbox's create or delete path (snapshots, subvolume create and delete, limits, sync)
 * and the usage of layers are ioctls of the helper instead (see helper.ts).
 */
export const btrfs = {
  subvolumeList: (path: string) => ["btrfs", "subvolume", "list", path],
  qgroupClearStale: (path: string) => ["btrfs", "qgroup", "clear-stale", path],
} as const;
