import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { LayerRecords } from "./layer-records.ts";

async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await mkdtemp(join(tmpdir(), "strata-records-"));
  return { path, [Symbol.asyncDispose]: () => rm(path, { recursive: true, force: true }) };
}

test("LayerRecords.load() reads JSON records and the bare numbers older drivers wrote, and drops torn writes", async () => {
  await using dir = await tempDir();
  await writeFile(join(dir.path, "snp-a"), '{"referencedBytes":100,"exclusiveBytes":4,"x":1}');
  await writeFile(join(dir.path, "vol-a"), "2048\n");
  await writeFile(join(dir.path, "vol-b.tmp"), '{"inherit');
  await writeFile(join(dir.path, "junk"), "not a record");
  await writeFile(join(dir.path, "neg"), '{"referencedBytes":-1}');
  const records = await LayerRecords.load(dir.path);
  assert.deepEqual(records.get("snp-a"), { referencedBytes: 100, exclusiveBytes: 4 });
  assert.deepEqual(records.get("vol-a"), { inheritedBytes: 2048 });
  assert.deepEqual(records.get("junk"), {});
  assert.deepEqual(records.names().sort(), ["snp-a", "vol-a"]);
  assert.deepEqual((await readdir(dir.path)).sort(), ["junk", "neg", "snp-a", "vol-a"]);
});

test("LayerRecords set(), update(), move() and remove() keep memory and disk alike", async () => {
  await using dir = await tempDir();
  const records = await LayerRecords.load(dir.path);
  await records.set("vol-a", { inheritedBytes: 10 });
  await records.update("vol-a", { referencedBytes: 30 });
  assert.deepEqual(records.get("vol-a"), { inheritedBytes: 10, referencedBytes: 30 });
  assert.deepEqual(JSON.parse(await readFile(join(dir.path, "vol-a"), "utf8")), {
    inheritedBytes: 10,
    referencedBytes: 30,
  });
  // An empty record (a zero inherited size counts as none) is no record.
  await records.set("vol-b", { inheritedBytes: 0 });
  assert.deepEqual(await readdir(dir.path), ["vol-a"]);
  await records.move("vol-a", "vol-a@restore");
  assert.deepEqual(records.get("vol-a"), {});
  assert.deepEqual(records.get("vol-a@restore"), { inheritedBytes: 10, referencedBytes: 30 });
  // Moving no record removes the target's.
  await records.set("vol-c", { inheritedBytes: 5 });
  await records.move("nothing", "vol-c");
  assert.deepEqual(records.get("vol-c"), {});
  await records.remove("vol-a@restore");
  assert.deepEqual(await readdir(dir.path), []);
  const again = await LayerRecords.load(dir.path);
  assert.deepEqual(again.names(), []);
});
