/**
 * Pure argv builders for btrfs-progs; run by the driver and the pool through `run()`.
 * What lies on a sandbox's create or delete path (snapshots, subvolume create and delete,
 * limits, sync) is an ioctl of the helper instead (see helper.ts).
 */
export const btrfs = {
  subvolumeList: (path: string) => ["btrfs", "subvolume", "list", path],
  qgroupShow: (path: string) => ["btrfs", "qgroup", "show", "--raw", path],
  qgroupClearStale: (path: string) => ["btrfs", "qgroup", "clear-stale", path],
} as const;
