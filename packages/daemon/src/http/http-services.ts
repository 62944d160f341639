import type { Services } from "../service/services.ts";

/**
 * What the HTTP layer calls of each service, and nothing more: the routes' whole
 * dependency on the service layer. `Services` satisfies it; in-process tests of the HTTP
 * layer give it a real {@link Services.auth} and stubs of the few methods a test reaches.
 */
export interface HttpServices {
  auth: Pick<Services["auth"], "authenticate">;
  volumes: Pick<Services["volumes"], "create" | "list" | "get" | "delete" | "restore">;
  snapshots: Pick<Services["snapshots"], "createFromVolume" | "list" | "get" | "update" | "delete">;
  images: Pick<Services["images"], "get" | "list" | "ensure">;
  sandboxes: Pick<
    Services["sandboxes"],
    "create" | "list" | "get" | "update" | "expose" | "kill" | "pause" | "resume" | "stop" | "start"
  >;
  sandboxSnapshots: Pick<Services["sandboxSnapshots"], "create" | "list">;
  orgs: Pick<Services["orgs"], "get" | "update">;
  events: Pick<Services["events"], "list">;
  io: Pick<
    Services["io"],
    | "start"
    | "env"
    | "exec"
    | "openFile"
    | "writeFile"
    | "stat"
    | "readDir"
    | "mkdir"
    | "remove"
    | "rename"
    | "chmod"
  >;
  snapshotFiles: Pick<Services["snapshotFiles"], "open" | "readDir" | "stat">;
  snapshotDiff: Pick<Services["snapshotDiff"], "diff">;
  doctor: Services["doctor"];
}
