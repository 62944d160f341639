import type { DoctorReport } from "@strata/api";
import type { AuthService } from "./auth.ts";
import type { ImageService } from "./images.ts";
import type { SandboxIo } from "./sandbox-io.ts";
import type { SandboxService } from "./sandboxes.ts";
import type { SnapshotService } from "./snapshots.ts";
import type { VolumeService } from "./volumes.ts";

/** Everything the HTTP layer may call. */
export interface Services {
  auth: AuthService;
  volumes: VolumeService;
  snapshots: SnapshotService;
  images: ImageService;
  sandboxes: SandboxService;
  io: SandboxIo;
  doctor: () => Promise<DoctorReport>;
}
