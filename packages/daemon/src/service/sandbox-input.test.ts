import assert from "node:assert/strict";
import { test } from "node:test";
import { StrataError } from "../errors.ts";
import {
  parseCpus,
  parseDiskGB,
  parseMemory,
  parseTimeout,
  validateEnv,
  validateLabels,
  validateMounts,
  validateSchedule,
} from "./sandbox-input.ts";

const code = (c: string) => (e: unknown) => e instanceof StrataError && e.code === c;

test("validateMounts() accepts normalised absolute paths and normalises trailing slashes", () => {
  assert.deepEqual(validateMounts({ "/data/dataset": "a", "/srv/": "b" }), [
    ["/data/dataset", "a"],
    ["/srv", "b"],
  ]);
});

test("validateMounts() refuses relative, unnormalised, reserved and overlapping paths", () => {
  const cases: Record<string, string>[] = [
    { data: "a" },
    { "/data/../etc": "a" },
    { "/": "a" },
    { "/proc/x": "a" },
    { "/.strata": "a" },
    { "/usr/local": "a" },
    { "/data": "a", "/data/sub": "b" },
  ];
  for (const bad of cases) {
    assert.throws(() => validateMounts(bad), code("invalid_mount_path"), JSON.stringify(bad));
  }
});

test("labels, env, timeout, memory and cpus are checked against their documented limits", () => {
  validateLabels({ team: "a", "app.kubernetes.io/name": "x" });
  assert.throws(
    () => validateLabels(Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`k${i}`, "v"]))),
    code("invalid_labels"),
  );
  assert.throws(() => validateLabels({ k: "v".repeat(257) }), code("invalid_labels"));
  validateEnv({ PATH: "/bin", _X1: "" });
  assert.throws(() => validateEnv({ "1BAD": "x" }), code("invalid_env"));
  assert.equal(parseTimeout("30m", 86_400_000), 1_800_000);
  assert.throws(() => parseTimeout("0s", 86_400_000), code("invalid_timeout"));
  assert.throws(() => parseTimeout("2d", 86_400_000), code("invalid_timeout"));
  const mem = { minBytes: 64 * 2 ** 20, maxBytes: 2 ** 34, defaultBytes: 2 ** 30 };
  assert.equal(parseMemory(undefined, mem), 2 ** 30);
  assert.equal(parseMemory("512MiB", mem), 512 * 2 ** 20);
  assert.throws(() => parseMemory("1MiB", mem), code("invalid_limits"));
  const cpus = { min: 0.1, max: 2, default: 1 };
  assert.equal(parseCpus(0.5, cpus), 0.5);
  assert.throws(() => parseCpus(3, cpus), code("invalid_limits"));
  assert.throws(() => parseCpus(Number.NaN, cpus), code("invalid_limits"));
});

test("validateSchedule() needs a five-field cron expression in automatic mode only", () => {
  assert.deepEqual(validateSchedule({}), { frequency: null, keep: null });
  assert.deepEqual(validateSchedule({ snapshotMode: "manual" }), { frequency: null, keep: null });
  assert.deepEqual(
    validateSchedule({
      snapshotMode: "automatic",
      snapshotFrequency: " */15  * * * 1-5 ",
      snapshotKeep: 3,
    }),
    { frequency: "*/15 * * * 1-5", keep: 3 },
  );
  const bad = code("invalid_snapshot_schedule");
  assert.throws(() => validateSchedule({ snapshotMode: "automatic" }), bad);
  assert.throws(() => validateSchedule({ snapshotFrequency: "* * * * *" }), bad);
  assert.throws(() => validateSchedule({ snapshotMode: "manual", snapshotKeep: 2 }), bad);
  assert.throws(
    () => validateSchedule({ snapshotMode: "automatic", snapshotFrequency: "*/5 * * * * *" }),
    bad,
  );
  assert.throws(
    () => validateSchedule({ snapshotMode: "automatic", snapshotFrequency: "61 * * * *" }),
    bad,
  );
  assert.throws(
    () => validateSchedule({ snapshotMode: "automatic", snapshotFrequency: "@hourly" }),
    bad,
  );
  for (const keep of [0, -1, 1.5, 1001])
    assert.throws(
      () =>
        validateSchedule({
          snapshotMode: "automatic",
          snapshotFrequency: "0 * * * *",
          snapshotKeep: keep,
        }),
      bad,
    );
});

test("parseDiskGB() converts GB to bytes within the capacity limits", () => {
  const limits = { minBytes: 3e8, maxBytes: 2e10 };
  assert.equal(parseDiskGB(undefined, limits), undefined);
  assert.equal(parseDiskGB(5, limits), 5e9);
  assert.equal(parseDiskGB(0.5, limits), 5e8);
  for (const gb of [0.1, 21, Number.NaN])
    assert.throws(() => parseDiskGB(gb, limits), code("invalid_disk_size"));
});
