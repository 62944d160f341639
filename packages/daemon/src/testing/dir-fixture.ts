import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DirDriver } from "../storage/dir/driver.ts";
import { removeTree } from "../storage/dir/tree.ts";

/**
 * A storage driver on plain folders under the temp dir, for tests that need real layers
 * but neither root nor btrfs (service rules, runtime fakes). Disposing purges every layer
 * (read-only ones are immutable when the tests run as root) and deletes the folder.
 *
 * @example
 * ```ts
 * await using storage = await tempDirDriver();
 * await storage.driver.create("vol_1");
 * ```
 */
export async function tempDirDriver(): Promise<
  { driver: DirDriver; root: string } & AsyncDisposable
> {
  const root = await mkdtemp(join(tmpdir(), "strata-test-layers-"));
  const driver = await DirDriver.open(root);
  return {
    driver,
    root,
    [Symbol.asyncDispose]: async () => {
      for (const { id } of await driver.list()) await driver.remove(id);
      await driver.cleanup();
      await removeTree(root);
    },
  };
}
