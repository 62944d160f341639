import { StrataError } from "../errors.ts";
import { ExecError } from "../lib/exec.ts";

/** Runs a storage step, turning "the pool is out of space" into `pool_full` (a 503 the caller can act on). */
export async function storageStep<T>(what: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    const enospc =
      (err instanceof ExecError && /No space left on device/i.test(err.stderr)) ||
      (err as { code?: string }).code === "ENOSPC";
    if (enospc)
      throw new StrataError("pool_full", `${what}: the storage pool has no space left`, {
        cause: err,
      });
    throw err;
  }
}
