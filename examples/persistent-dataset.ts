/**
 * A volume outlives the sandboxes that use it: mount it at /data/dataset, write a file,
 * end the sandbox, then read the file from a new sandbox that mounts the same volume.
 *
 *   node examples/persistent-dataset.ts
 *
 * Reaches the daemon through STRATA_ENDPOINT and STRATA_TOKEN (or the local admin token
 * file). Deletes the volume at the end unless STRATA_EXAMPLE_KEEP=1.
 */
import { Client } from "@strata/sdk";

export async function main(): Promise<void> {
  const client = new Client();
  const tag = process.env.STRATA_EXAMPLE_TAG ?? Math.random().toString(36).slice(2, 8);
  await using cleanup = new AsyncDisposableStack();

  const volume = await client.volumes.create({ slug: `dataset-${tag}`, capacity: "1GB" });
  if (process.env.STRATA_EXAMPLE_KEEP !== "1")
    cleanup.defer(() => client.volumes.delete(volume.id));
  console.log(`volume ${volume.slug} (${volume.id})`);

  const mount = { "/data/dataset": volume.slug };
  {
    await using writer = await client.sandboxes.create({ volumes: mount });
    const rows = ["city,temperature", "Lisbon,21.5", "Oslo,4.0", "Nairobi,24.1"];
    await writer.fs.writeTextFile("/data/dataset/measurements.csv", `${rows.join("\n")}\n`);
    console.log(`sandbox ${writer.id} wrote /data/dataset/measurements.csv`);
  } // the writer is killed here; the volume keeps the file

  await using reader = await client.sandboxes.create({ volumes: mount });
  const csv = await reader.fs.readTextFile("/data/dataset/measurements.csv");
  const lines = await reader.sh`wc -l < /data/dataset/measurements.csv`.text();
  console.log(`sandbox ${reader.id} read ${lines} lines:`);
  console.log(csv.trimEnd());
}

if (import.meta.main) await main();
