import { StrataError } from "../errors.ts";
import { ExecError } from "../lib/exec.ts";
import { SandboxStartError } from "../runtime/start-error.ts";
import { LayerNotFoundError } from "../storage/driver.ts";

/** Whether a failed storage step failed because the pool is out of space (ENOSPC). */
export function isOutOfSpace(err: unknown): boolean {
  return (
    (err instanceof ExecError && /No space left on device/i.test(err.stderr)) ||
    (err instanceof Error && (err as NodeJS.ErrnoException).code === "ENOSPC")
  );
}

/** Which resource a layer id names (ids are `<prefix>_…`, see lib/ids.ts). */
const LAYER_OWNERS = {
  vol: ["volume_not_found", "Volume"],
  snp: ["snapshot_not_found", "Snapshot"],
  sbx: ["sandbox_not_found", "The root of sandbox"],
  img: ["image_not_found", "Image layer"],
} as const;

/**
 * The one translation of typed driver and runtime errors into the API's errors, for those
 * that reach the HTTP layer without a service giving them a more precise message:
 *
 * - {@link SandboxStartError} → `sandbox_start_failed` (503) with the runtime's reason;
 * - out of space (ENOSPC) → `pool_full` (503);
 * - {@link LayerNotFoundError} of a volume, snapshot, sandbox root or image layer → that
 *   resource's `*_not_found` (404): it was deleted while the request used it.
 *
 * Anything else gives `undefined` (a bug: the HTTP layer answers `internal`).
 */
export function fromDriverError(err: unknown): StrataError | undefined {
  if (err instanceof SandboxStartError)
    return new StrataError(
      "sandbox_start_failed",
      `Cannot start sandbox ${err.sandboxId}: ${err.reason}`,
      { cause: err },
    );
  if (isOutOfSpace(err))
    return new StrataError(
      "pool_full",
      "The operation failed: the storage pool has no space left",
      { cause: err },
    );
  if (err instanceof LayerNotFoundError) {
    const id = /"([a-z0-9_-]+)"/.exec(err.message)?.[1];
    const owner = id && LAYER_OWNERS[id.split("_")[0] as keyof typeof LAYER_OWNERS];
    if (owner)
      return new StrataError(owner[0], `${owner[1]} ${id} was deleted while the request used it`, {
        cause: err,
      });
  }
  return undefined;
}
