import assert from "node:assert/strict";
import { test } from "node:test";
import { ApiError, NetworkError, StrataError, type Volume } from "@strata/sdk";
import {
  CliError,
  describeError,
  doctorText,
  EXIT,
  renderTable,
  volumeDetails,
  volumesTable,
} from "./output.ts";

function volume(overrides: Partial<Volume> = {}): Volume {
  return {
    id: "vol_01",
    slug: "data",
    region: "local",
    status: "ready",
    failureReason: null,
    capacity: 10_000_000_000,
    usedBytes: 1_500_000_000,
    estimatedAllocatedSize: 1_000,
    estimatedFlattenedSize: 1_500_000_000,
    bootable: true,
    base: { kind: "image", image: "builtin:debian-13" },
    attachedTo: null,
    createdAt: "2025-01-01T00:00:00.000Z",
    ...overrides,
  };
}

test("renderTable() prints borderless, space-separated columns without trailing spaces", () => {
  const text = renderTable(
    ["ID", "NAME"],
    [
      ["a", "first"],
      ["longer-id", "x"],
    ],
  );
  assert.equal(text, ["ID         NAME", "a          first", "longer-id  x"].join("\n"));
});

test("volumesTable() shows sizes with formatSize and the volume columns in order", () => {
  const text = volumesTable([
    volume(),
    volume({ id: "vol_02", slug: "scratch", bootable: false, status: "creating", capacity: 512 }),
  ]);
  const lines = text.split("\n");
  assert.deepEqual(lines[0]?.split(/\s{2,}/), [
    "ID",
    "SLUG",
    "REGION",
    "CAPACITY",
    "USED",
    "BOOTABLE",
    "STATUS",
  ]);
  assert.deepEqual(lines[1]?.split(/\s{2,}/), [
    "vol_01",
    "data",
    "local",
    "10 GB",
    "1.5 GB",
    "yes",
    "ready",
  ]);
  assert.deepEqual(lines[2]?.split(/\s{2,}/), [
    "vol_02",
    "scratch",
    "local",
    "512 B",
    "1.5 GB",
    "no",
    "creating",
  ]);
  const statusColumn = lines[0]?.indexOf("STATUS");
  assert.equal(lines[1]?.indexOf("ready"), statusColumn);
});

test("tables contain no escape codes unless colour is asked for", () => {
  const plain = volumesTable([volume()]);
  assert.equal(plain.includes("\u001b["), false);
  const coloured = volumesTable([volume()], { color: true });
  assert.equal(coloured.includes("\u001b["), true);
});

test("volumeDetails() names the base image and shows the failure reason of a failed volume", () => {
  const text = volumeDetails(volume({ status: "failed", failureReason: "mmdebstrap failed" }));
  assert.match(text, /^Base +builtin:debian-13$/m);
  assert.match(text, /^Failure +mmdebstrap failed$/m);
  assert.match(text, /^Capacity +10 GB$/m);
});

test("doctorText() labels checks ok/warn/FAIL and adds a fix line under failed ones", () => {
  const text = doctorText({
    ok: false,
    checks: [
      { name: "root", ok: true, severity: "fatal", detail: "running as root", fix: null },
      {
        name: "crun",
        ok: false,
        severity: "warn",
        detail: "crun missing",
        fix: "apt install crun",
      },
      { name: "btrfs", ok: false, severity: "fatal", detail: "no btrfs", fix: "load btrfs" },
    ],
  });
  assert.equal(
    text,
    [
      "ok    root   running as root",
      "warn  crun   crun missing",
      "      fix: apt install crun",
      "FAIL  btrfs  no btrfs",
      "      fix: load btrfs",
      "",
      "1 check failed, 1 warning.",
    ].join("\n"),
  );
});

test("describeError() hints at STRATA_TOKEN for unauthenticated and exits 1", () => {
  const err = new ApiError({ status: 401, code: "unauthenticated", message: "Invalid token" });
  const { text, exitCode } = describeError(err);
  assert.equal(exitCode, EXIT.error);
  assert.match(text, /^error: Invalid token$/m);
  assert.match(text, /^hint: .*STRATA_TOKEN.*root/m);
  assert.doesNotMatch(text, /at .*\.ts:\d+/);
});

test("describeError() exits 3 on a network error and suggests starting stratad", () => {
  const err = new NetworkError("http://127.0.0.1:1", new Error("connect ECONNREFUSED"));
  const { text, exitCode } = describeError(err);
  assert.equal(exitCode, EXIT.network);
  assert.match(text, /^hint: is stratad running\? .*npm start/m);
});

test("describeError() lists invalid_request details and suggests another slug for slug_taken", () => {
  const invalid = new ApiError({
    status: 400,
    code: "invalid_request",
    message: "Invalid request",
    details: [{ path: "body.capacity", message: "Required" }],
  });
  assert.match(describeError(invalid).text, /^ {2}body\.capacity: Required$/m);
  const taken = new ApiError({ status: 409, code: "slug_taken", message: "taken" });
  assert.match(describeError(taken).text, /^hint: choose another slug/m);
});

test("describeError() prints the stack trace only with --debug", () => {
  const err = new StrataError("volume_failed", "Volume failed");
  assert.doesNotMatch(describeError(err).text, /\n\s+at /);
  assert.match(describeError(err, { debug: true }).text, /\n\s+at /);
});

test("describeError() keeps a CliError's hint and exit code, and flags unknown errors as bugs", () => {
  const cli = describeError(new CliError("Volume not found", { hint: "list them", exitCode: 1 }));
  assert.equal(cli.text, "error: Volume not found\nhint: list them");
  const bug = describeError(new TypeError("x is undefined"));
  assert.equal(bug.exitCode, EXIT.error);
  assert.match(bug.text, /--debug/);
});
