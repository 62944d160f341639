import assert from "node:assert/strict";
import { test } from "node:test";
import { openDatabase } from "./database.ts";
import { OrgsRepo } from "./orgs-repo.ts";
import { VolumesRepo } from "./volumes-repo.ts";

function setup() {
  const db = openDatabase(":memory:");
  new OrgsRepo(db).insert({ id: "org_1", name: "default", createdAt: new Date("2026-01-01") });
  const volumes = new VolumesRepo(db);
  for (const id of ["vol_a", "vol_b"]) {
    volumes.insert({
      id,
      orgId: "org_1",
      slug: id.replace("_", "-"),
      region: "local",
      status: "ready",
      capacity: 1e9,
      bootable: false,
      base: null,
      createdAt: new Date("2026-01-01"),
    });
  }
  return volumes;
}

test("attach() refuses a volume being restored, and beginRestore() one that is attached", () => {
  const volumes = setup();
  assert.equal(volumes.beginRestore("vol_a", "snp_1"), true);
  assert.equal(volumes.beginRestore("vol_a", "snp_1"), false, "one restore at a time");
  assert.equal(volumes.attach(["vol_b", "vol_a"], "sbx_1")?.id, "vol_a");
  assert.equal(volumes.byId("vol_b")?.attachedTo, null, "all or nothing");
  volumes.endRestore("vol_a");
  assert.equal(volumes.attach(["vol_a"], "sbx_1"), undefined);
  assert.equal(volumes.beginRestore("vol_a", "snp_1"), false, "attached");
  volumes.detachAll("sbx_1");
  assert.equal(volumes.beginRestore("vol_a", "snp_1"), true);
});
