import type { StorageDriver } from "../storage/driver.ts";

/** The flattened size of one layer, 0 when it is unknown. */
export async function sizeOf(driver: StorageDriver, id: string): Promise<number> {
  return (await driver.usage([id])).get(id)?.referencedBytes ?? 0;
}
