import assert from "node:assert/strict";
import { test } from "node:test";
import type { Event, Snapshot } from "@strata/sdk";
import { eventsTable } from "./event-output.ts";
import { snapshotDetails, snapshotsTable } from "./snapshot-output.ts";

function snapshot(overrides: Partial<Snapshot> = {}): Snapshot {
  return {
    id: "snp_01",
    slug: "data-v1",
    region: "local",
    status: "ready",
    failureReason: null,
    volume: { id: "vol_01", slug: "data" },
    allocatedSize: 512,
    flattenedSize: 2_000_000,
    bootable: false,
    createdAt: "2025-01-01T00:00:00.000Z",
    kind: "volume",
    source: { kind: "volume", volume: { id: "vol_01", slug: "data" } },
    template: null,
    sizeBytes: 2_000_000,
    automatic: false,
    protected: false,
    expiresAt: null,
    settledAt: "2025-01-01T00:00:00.010Z",
    ...overrides,
  };
}

const SBX = "sbx_0123456789abcdefghij";

function sandboxSnapshot(overrides: Partial<Snapshot> = {}): Snapshot {
  return snapshot({
    id: "snp_03",
    slug: "hourly-1",
    volume: null,
    kind: "sandbox",
    source: { kind: "sandbox", sandbox: SBX },
    template: { kind: "image", image: "builtin:debian-13" },
    automatic: true,
    protected: true,
    expiresAt: "2025-01-31T00:00:00.000Z",
    ...overrides,
  });
}

test("snapshotsTable() shows sizes, kind, source, status, protection and expiry", () => {
  const lines = snapshotsTable([
    snapshot(),
    snapshot({ id: "snp_02", source: { kind: "volume", volume: null } }),
    sandboxSnapshot({ status: "creating" }),
  ]).split("\n");
  assert.deepEqual(lines[0]?.split(/\s{2,}/), [
    "ID",
    "SLUG",
    "REGION",
    "ALLOCATED",
    "FLATTENED",
    "KIND",
    "SOURCE",
    "STATUS",
    "PROTECTED",
    "EXPIRES",
  ]);
  assert.deepEqual(lines[1]?.split(/\s{2,}/), [
    "snp_01",
    "data-v1",
    "local",
    "512 B",
    "2 MB",
    "volume",
    "data",
    "ready",
    "no",
    "never",
  ]);
  assert.equal(lines[2]?.split(/\s{2,}/)[6], "-", "a deleted volume");
  assert.deepEqual(lines[3]?.split(/\s{2,}/).slice(5), [
    "sandbox",
    SBX,
    "creating",
    "yes",
    "2025-01-31T00:00:00Z",
  ]);
});

test("snapshotDetails() names a sandbox snapshot's source, template and schedule, and a failure", () => {
  const text = snapshotDetails(
    sandboxSnapshot({ status: "failed", failureReason: "no space left on device" }),
  );
  assert.match(text, new RegExp(`^Source +sandbox ${SBX} \\(automatic\\)$`, "m"));
  assert.match(text, /^Template +builtin:debian-13$/m);
  assert.match(text, /^Protected +yes$/m);
  assert.match(text, /^Expires +2025-01-31T00:00:00.000Z$/m);
  assert.match(text, /^Failure +no space left on device$/m);
  const volumeText = snapshotDetails(snapshot());
  assert.match(volumeText, /^Source +volume data \(vol_01\)$/m);
  assert.doesNotMatch(volumeText, /^Template/m);
  assert.match(volumeText, /^Expires +never$/m);
});

test("eventsTable() prints TIME TYPE SANDBOX SNAPSHOT MESSAGE, with - for what an event is not about", () => {
  const events: Event[] = [
    {
      id: "evt_1",
      type: "snapshot.skipped",
      sandbox: SBX,
      snapshot: null,
      message: "Skipped a scheduled snapshot: the sandbox is paused",
      createdAt: "2025-01-01T00:00:00.123Z",
    },
  ];
  const lines = eventsTable(events).split("\n");
  assert.deepEqual(lines[0]?.split(/\s{2,}/), ["TIME", "TYPE", "SANDBOX", "SNAPSHOT", "MESSAGE"]);
  assert.deepEqual(lines[1]?.split(/\s{2,}/), [
    "2025-01-01T00:00:00Z",
    "snapshot.skipped",
    SBX,
    "-",
    "Skipped a scheduled snapshot: the sandbox is paused",
  ]);
});
