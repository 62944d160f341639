/** What the benchmark measures, at full size and in the quick mode used while developing it. */

const MiB = 2 ** 20;
const GiB = 2 ** 30;

export interface DataCase {
  /** Short name used in slugs and podman names. */
  key: string;
  label: string;
  bytes: number;
  /** Size of each file the data is written as. */
  fileBytes: number;
  /** Whether the case enters the largest/smallest ratio (the file-count case does not). */
  inRatio: boolean;
}

export interface Plan {
  cases: DataCase[];
  /** Volume capacity, large enough for the largest case. */
  capacity: string;
  /** Snapshots and forks timed per case through stratad. */
  strataReps: number;
  /** `podman commit`s timed per case (each of 1 GiB takes ~25 s here, so fewer for big cases). */
  podmanCommitReps: (c: DataCase) => number;
  /** `podman create`s from the committed image timed per case. */
  podmanCreateReps: number;
  space: { baseBytes: number; changeBytes: number; snapshots: number };
}

export const FULL: Plan = {
  cases: [
    { key: "10m", label: "10 MiB", bytes: 10 * MiB, fileBytes: MiB, inRatio: true },
    { key: "1g", label: "1 GiB", bytes: GiB, fileBytes: 64 * MiB, inRatio: true },
    { key: "4g", label: "4 GiB", bytes: 4 * GiB, fileBytes: 64 * MiB, inRatio: true },
    {
      key: "files",
      label: "10 MiB as 2,560 files",
      bytes: 10 * MiB,
      fileBytes: 4096,
      inRatio: false,
    },
  ],
  capacity: "6GB",
  strataReps: 5,
  podmanCommitReps: (c) => (c.bytes >= GiB ? 2 : 3),
  podmanCreateReps: 3,
  space: { baseBytes: GiB, changeBytes: 10 * MiB, snapshots: 20 },
};

export const QUICK: Plan = {
  cases: [
    { key: "10m", label: "10 MiB", bytes: 10 * MiB, fileBytes: MiB, inRatio: true },
    { key: "100m", label: "100 MiB", bytes: 100 * MiB, fileBytes: 64 * MiB, inRatio: true },
    { key: "400m", label: "400 MiB", bytes: 400 * MiB, fileBytes: 64 * MiB, inRatio: true },
    { key: "files", label: "1 MiB as 256 files", bytes: MiB, fileBytes: 4096, inRatio: false },
  ],
  capacity: "1GB",
  strataReps: 3,
  podmanCommitReps: () => 1,
  podmanCreateReps: 1,
  space: { baseBytes: 100 * MiB, changeBytes: MiB, snapshots: 5 },
};

/** What the sandbox benchmark measures, at full size and in the quick mode. */
export interface SandboxPlan {
  /** create → `echo hi` → delete cycles through stratad, sequential. */
  cycles: number;
  /** `podman run --rm … echo hi` cycles (about 0.5 s each here). */
  podmanRuns: number;
  /** `crun run` cycles of the prepared floor bundle. */
  floorRuns: number;
  /** `exec ["true"]` round trips on one running sandbox. */
  execRuns: number;
  /** 1 MiB write and read-back pairs through the files API. */
  fileRuns: number;
  fileBytes: number;
  /** Extra data in the volume a boot snapshot is taken of; the first and last enter the ratio. */
  bootSizes: { key: string; label: string; bytes: number }[];
  /** Sandboxes created (and deleted) from each boot snapshot. */
  bootReps: number;
  /** Snapshots of a running sandbox booted from each boot volume (each then restored once). */
  runningSnapshots: number;
  /** Idle sandboxes held at once for the density figures. */
  density: number;
  /** Creates (and deletes) in flight at once during the density run. */
  densityConcurrency: number;
}

export const SANDBOX_FULL: SandboxPlan = {
  cycles: 100,
  podmanRuns: 50,
  floorRuns: 100,
  execRuns: 500,
  fileRuns: 30,
  fileBytes: MiB,
  bootSizes: [
    { key: "10m", label: "10 MiB", bytes: 10 * MiB },
    { key: "4g", label: "4 GiB", bytes: 4 * GiB },
  ],
  bootReps: 10,
  runningSnapshots: 10,
  density: 200,
  densityConcurrency: 4,
};

export const SANDBOX_QUICK: SandboxPlan = {
  cycles: 10,
  podmanRuns: 5,
  floorRuns: 10,
  execRuns: 50,
  fileRuns: 5,
  fileBytes: MiB,
  bootSizes: [
    { key: "10m", label: "10 MiB", bytes: 10 * MiB },
    { key: "400m", label: "400 MiB", bytes: 400 * MiB },
  ],
  bootReps: 3,
  runningSnapshots: 3,
  density: 20,
  densityConcurrency: 4,
};
