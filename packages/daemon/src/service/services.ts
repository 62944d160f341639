import type { DoctorReport } from "@strata/api";
import type { AuthService } from "./auth.ts";
import type { EventLog } from "./events.ts";
import type { ImageService } from "./images.ts";
import type { OrgService } from "./org.ts";
import type { SandboxIo } from "./sandbox-io.ts";
import type { SandboxSnapshotService } from "./sandbox-snapshots.ts";
import type { SandboxService } from "./sandboxes.ts";
import type { SnapshotDiffService } from "./snapshot-diff.ts";
import type { SnapshotFiles } from "./snapshot-files.ts";
import type { SnapshotService } from "./snapshots.ts";
import type { VolumeService } from "./volumes.ts";

/** Everything the HTTP layer may call. */
export interface Services {
  auth: AuthService;
  volumes: VolumeService;
  snapshots: SnapshotService;
  images: ImageService;
  sandboxes: SandboxService;
  sandboxSnapshots: SandboxSnapshotService;
  orgs: OrgService;
  events: EventLog;
  io: SandboxIo;
  /** Files inside snapshots, read without booting them. */
  snapshotFiles: SnapshotFiles;
  /** Differences between a snapshot and a snapshot or volume. */
  snapshotDiff: SnapshotDiffService;
  doctor: () => Promise<DoctorReport>;
}
