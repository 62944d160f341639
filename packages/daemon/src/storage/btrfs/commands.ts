/** Pure argv builders for btrfs-progs; run by the driver through `run()`. */

export const btrfs = {
  subvolumeCreate: (path: string) => ["btrfs", "subvolume", "create", path],
  snapshot: (source: string, dest: string, readOnly: boolean) => [
    "btrfs",
    "subvolume",
    "snapshot",
    ...(readOnly ? ["-r"] : []),
    source,
    dest,
  ],
  subvolumeDelete: (paths: string[]) => [
    "btrfs",
    "subvolume",
    "delete",
    "--commit-after",
    ...paths,
  ],
  subvolumeList: (path: string) => ["btrfs", "subvolume", "list", path],
  setReadOnly: (path: string, readOnly: boolean) => [
    "btrfs",
    "property",
    "set",
    "-ts",
    path,
    "ro",
    String(readOnly),
  ],
  quotaEnable: (mount: string) => ["btrfs", "quota", "enable", mount],
  qgroupLimit: (bytes: number | null, path: string) => [
    "btrfs",
    "qgroup",
    "limit",
    bytes === null ? "none" : String(bytes),
    path,
  ],
  qgroupShow: (path: string) => ["btrfs", "qgroup", "show", "--raw", path],
  qgroupClearStale: (path: string) => ["btrfs", "qgroup", "clear-stale", path],
  sync: (path: string) => ["btrfs", "filesystem", "sync", path],
} as const;
