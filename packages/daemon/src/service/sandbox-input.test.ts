import assert from "node:assert/strict";
import { test } from "node:test";
import { StrataError } from "../errors.ts";
import {
  normaliseMounts,
  parseCpus,
  parseDiskGB,
  parseMemory,
  parseTimeout,
  validateSchedule,
} from "./sandbox-input.ts";

const code = (c: string, message?: RegExp) => (e: unknown) =>
  e instanceof StrataError && e.code === c && (message === undefined || message.test(e.message));

test("normaliseMounts() pairs each mount path, without trailing slashes, with its volume", () => {
  assert.deepEqual(normaliseMounts({ "/data/dataset": "a", "/srv/": "b", "/opt///": "c" }), [
    ["/data/dataset", "a"],
    ["/srv", "b"],
    ["/opt", "c"],
  ]);
});

test("parseTimeout() gives milliseconds up to the daemon's maximum", () => {
  assert.equal(parseTimeout("30m", 86_400_000), 1_800_000);
  assert.throws(
    () => parseTimeout("2d", 86_400_000),
    code("invalid_timeout", /"2d": at most 24 hours/),
  );
  assert.throws(
    () => parseTimeout("0s", 86_400_000),
    code("invalid_timeout", /"0s": give a duration/),
  );
  assert.throws(() => parseTimeout("soon", 86_400_000), code("invalid_timeout"));
});

test("parseMemory() and parseCpus() apply this host's limits and defaults", () => {
  const mem = { minBytes: 64 * 2 ** 20, maxBytes: 2 ** 32, defaultBytes: 2 ** 30 };
  assert.equal(parseMemory(undefined, mem), 2 ** 30);
  assert.equal(parseMemory("512MiB", mem), 512 * 2 ** 20);
  assert.throws(
    () => parseMemory("8GiB", mem),
    code(
      "invalid_limits",
      /^Invalid memory "8GiB": give a size between 64 MiB and 4 GiB, e\.g\. "1GiB"$/,
    ),
  );
  assert.throws(() => parseMemory("1MiB", mem), code("invalid_limits"));
  assert.throws(() => parseMemory("big", mem), code("invalid_limits"));
  const cpus = { min: 0.1, max: 2, default: 1 };
  assert.equal(parseCpus(undefined, cpus), 1);
  assert.equal(parseCpus(0.555, cpus), 0.56);
  assert.throws(
    () => parseCpus(3, cpus),
    code("invalid_limits", /^Invalid cpus 3: between 0\.1 and 2$/),
  );
  assert.throws(() => parseCpus(Number.NaN, cpus), code("invalid_limits"));
});

test("validateSchedule() normalises the cron expression and checks its fields with croner", () => {
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
  for (const frequency of ["61 * * * *", "* 25 * * *", "* * * 13 *", "x * * * *"])
    assert.throws(
      () => validateSchedule({ snapshotMode: "automatic", snapshotFrequency: frequency }),
      code(
        "invalid_snapshot_schedule",
        new RegExp(
          `^Invalid snapshotFrequency ${JSON.stringify(frequency).replace(/\*/g, "\\*")}: `,
        ),
      ),
      frequency,
    );
  // The shape is the contract's rule; a caller that bypassed the schema still gets it.
  assert.throws(() => validateSchedule({ snapshotMode: "automatic" }), bad);
  assert.throws(() => validateSchedule({ snapshotMode: "manual", snapshotKeep: 2 }), bad);
});

test("parseDiskGB() converts GB to bytes within the capacity limits", () => {
  const limits = { minBytes: 3e8, maxBytes: 2e10 };
  assert.equal(parseDiskGB(undefined, limits), undefined);
  assert.equal(parseDiskGB(5, limits), 5e9);
  assert.equal(parseDiskGB(0.5, limits), 5e8);
  for (const gb of [0.1, 21, Number.NaN])
    assert.throws(() => parseDiskGB(gb, limits), code("invalid_disk_size"));
});
