import type { LayerUsage, StorageDriver } from "../storage/driver.ts";

/** The usage of the given layers (absent ones are left out). */
export async function usageOf(
  driver: StorageDriver,
  ids: readonly string[],
): Promise<Map<string, LayerUsage>> {
  if (ids.length === 0) return new Map();
  const all = await driver.usage();
  return new Map(ids.flatMap((id) => (all.has(id) ? [[id, all.get(id)!] as const] : [])));
}

/** The flattened size of one layer, 0 when it is unknown. */
export async function sizeOf(driver: StorageDriver, id: string): Promise<number> {
  return (await usageOf(driver, [id])).get(id)?.referencedBytes ?? 0;
}
