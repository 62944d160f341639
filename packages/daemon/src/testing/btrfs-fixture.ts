import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "../lib/exec.ts";
import { openPool, type Pool } from "../storage/btrfs/pool.ts";

/** Whether this process can make loop-mounted btrfs pools (root with btrfs-progs). */
export const canUseBtrfs =
  process.getuid?.() === 0 &&
  (await run(["mkfs.btrfs", "--version"]).then(
    () => true,
    () => false,
  ));

/**
 * A throwaway btrfs pool on a sparse image file under the temp dir, for tests that need
 * the real filesystem. Disposing unmounts it and deletes the image.
 */
export async function tempPool(sizeBytes = 2 * 1024 ** 3): Promise<Pool & AsyncDisposable> {
  const dataDir = await mkdtemp(join(tmpdir(), "strata-test-pool-"));
  const pool = await openPool({ dataDir, sizeBytes, prefix: "test" });
  return {
    ...pool,
    [Symbol.asyncDispose]: async () => {
      await pool.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
