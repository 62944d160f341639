import type { DoctorReport } from "@strata/api";
import type { AuthService } from "./auth.ts";
import type { ImageService } from "./images.ts";
import type { SnapshotService } from "./snapshots.ts";
import type { VolumeService } from "./volumes.ts";

/** Everything the HTTP layer may call. */
export interface Services {
  auth: AuthService;
  volumes: VolumeService;
  snapshots: SnapshotService;
  images: ImageService;
  doctor: () => Promise<DoctorReport>;
}
