import assert from "node:assert/strict";
import { test } from "node:test";
import {
  checkCapacity,
  checkCpus,
  checkEnv,
  checkLabels,
  checkMemory,
  checkMounts,
  checkPort,
  checkRetention,
  checkSchedule,
  checkSlug,
  checkSnapshotName,
  checkTimeout,
  isName,
  NAME_PATTERN,
} from "./rules.ts";

test("a name is 2–63 of [a-z0-9.-], a letter or digit at each end, no '--' at index 2–3, no '..'", () => {
  const automatic = `auto-${"0123456789abcdefghjk"}-20250101120000`;
  assert.equal(automatic.length, 40);
  for (const ok of [
    "ab",
    "a1",
    "my-toolchain",
    "api-env-v1.0.0",
    "a.b",
    "a-b-c",
    "abc--d",
    "x".repeat(63),
    "0day",
    automatic,
  ])
    assert.ok(isName(ok), ok);
  for (const bad of [
    "",
    "a",
    "-x",
    "x-",
    ".x",
    "x.",
    "ab--cd",
    "xn--abc",
    "a..b",
    "x".repeat(64),
    "Ab",
    "a_b",
    "a b",
    "ünï",
    "a/b",
  ])
    assert.ok(!isName(bad), bad);
});

test("NAME_PATTERN has no flags, so JSON Schema's pattern means the same", () => {
  assert.equal(NAME_PATTERN.flags, "");
});

test("checkSlug() and checkSnapshotName() apply the one naming rule with their own codes", () => {
  assert.equal(checkSlug("api-env-v1.0.0"), undefined);
  assert.equal(checkSnapshotName("api-env-v1.0.0"), undefined);
  const slug = checkSlug("-x");
  assert.equal(slug?.code, "invalid_slug");
  assert.match(slug?.message ?? "", /^Invalid slug "-x": a slug is 2–63 characters/);
  const name = checkSnapshotName("a");
  assert.equal(name?.code, "invalid_snapshot_name");
  assert.match(name?.message ?? "", /^Invalid snapshot name "a": a name is 2–63 characters/);
});

test("checkCapacity() checks the syntax of a size, not its range", () => {
  for (const ok of ["1GB", "512MiB", 1, 10_000_000_000, "1.5GiB"])
    assert.equal(checkCapacity(ok), undefined);
  for (const bad of ["lots", -5, 1.5, "10 parsecs", ""]) {
    const f = checkCapacity(bad);
    assert.equal(f?.code, "invalid_capacity", String(bad));
    assert.ok(f?.message.includes(JSON.stringify(bad)), f?.message);
  }
});

test("checkMemory() accepts 64 MiB to 16 GiB; checkCpus() at least 0.1", () => {
  for (const ok of ["64MiB", "1GiB", 2 ** 30, "16GiB"]) assert.equal(checkMemory(ok), undefined);
  for (const bad of ["1KiB", "63MiB", "17GiB", "big", 1.5])
    assert.deepEqual(checkMemory(bad), {
      code: "invalid_limits",
      message: `Invalid memory ${JSON.stringify(bad)}: give a size between 64 MiB and 16 GiB, e.g. "1GiB"`,
    });
  for (const ok of [0.1, 0.5, 1, 1000]) assert.equal(checkCpus(ok), undefined);
  for (const bad of [0, 0.05, -1, Number.NaN, Number.POSITIVE_INFINITY])
    assert.equal(checkCpus(bad)?.code, "invalid_limits", String(bad));
  assert.equal(checkCpus(0.05)?.message, "Invalid cpus 0.05: at least 0.1");
});

test("checkTimeout() wants a positive duration; checkRetention() 1s to 3650d or never", () => {
  for (const ok of ["30m", "600s", "2h", "250ms", "7d"]) assert.equal(checkTimeout(ok), undefined);
  for (const bad of ["soon", "0s", "30", "1w", ""])
    assert.equal(checkTimeout(bad)?.code, "invalid_timeout", bad);
  for (const ok of ["never", "1s", "30d", "3650d"]) assert.equal(checkRetention(ok), undefined);
  for (const bad of ["soon", "999ms", "3651d", "forever"])
    assert.equal(checkRetention(bad)?.code, "invalid_retention", bad);
});

test("checkPort() refuses whole numbers outside 1–65535 and leaves fractions to the type", () => {
  for (const ok of [1, 80, 65535, 1.5]) assert.equal(checkPort(ok), undefined);
  assert.deepEqual(checkPort(70000), {
    code: "invalid_port",
    message: "Invalid port 70000: 1–65535",
  });
  assert.equal(checkPort(0)?.code, "invalid_port");
});

test("checkMounts() wants normalised absolute paths, off the reserved folders, not overlapping", () => {
  assert.equal(checkMounts({ "/data/dataset": "a", "/srv/": "b", "/opt///": "c" }), undefined);
  const cases: [Record<string, string>, RegExp][] = [
    [{ data: "a" }, /"data": give a normalised absolute path/],
    [{ "/data/../etc": "a" }, /normalised/],
    [{ "/data//x": "a" }, /normalised/],
    [{ "/./data": "a" }, /normalised/],
    [{ "/..": "a" }, /normalised/],
    [{ "/da\0ta": "a" }, /normalised/],
    [{ [`/${"x".repeat(255)}`]: "a" }, /normalised/],
    [{ "/": "a" }, /volumes cannot be mounted over \/$/],
    [{ "//": "a" }, /over \/$/],
    [{ "/proc/x": "a" }, /over \/proc$/],
    [{ "/.strata": "a" }, /over \/\.strata$/],
    [{ "/usr/local": "a" }, /over \/usr$/],
    [{ "/data": "a", "/data/sub": "b" }, /"\/data\/sub": it overlaps "\/data"$/],
    [{ "/data/sub": "a", "/data/": "b" }, /"\/data\/": it overlaps "\/data\/sub"$/],
    [{ "/data": "a", "/data/": "b" }, /overlaps/],
  ];
  for (const [bad, message] of cases) {
    const f = checkMounts(bad);
    assert.equal(f?.code, "invalid_mount_path", JSON.stringify(bad));
    assert.match(f?.message ?? "", message);
  }
  assert.equal(checkMounts({ "/data...": "a", "/srv/.hidden": "b" }), undefined);
});

test("checkLabels() allows 10 labels, keys of 1–64 safe bytes, values of ≤ 256 UTF-8 bytes", () => {
  assert.equal(
    checkLabels({ team: "a", "app.kubernetes.io/name": "x", k: "é".repeat(128) }),
    undefined,
  );
  const many = Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`k${i}`, "v"]));
  assert.deepEqual(checkLabels(many), {
    code: "invalid_labels",
    message: "Too many labels (11): at most 10",
  });
  assert.match(
    checkLabels({ "bad key!": "x" })?.message ?? "",
    /^Invalid label key "bad key!": 1–64 bytes/,
  );
  assert.equal(checkLabels({ "": "x" })?.code, "invalid_labels");
  assert.equal(checkLabels({ ["k".repeat(65)]: "x" })?.code, "invalid_labels");
  assert.equal(checkLabels({ ["k".repeat(64)]: "x" }), undefined);
  assert.equal(
    checkLabels({ k: "é".repeat(129) })?.message,
    'Invalid value of label "k": at most 256 bytes',
  );
});

test("checkEnv() wants shell-style names and values without NUL", () => {
  assert.equal(checkEnv({ PATH: "/bin", _X1: "", lower_ok: "y" }), undefined);
  assert.deepEqual(checkEnv({ "1BAD": "x" }), {
    code: "invalid_env",
    message: 'Invalid environment variable name "1BAD"',
  });
  assert.equal(checkEnv({ "A-B": "x" })?.code, "invalid_env");
  assert.match(checkEnv({ OK: "a\0b" })?.message ?? "", /"OK": it contains a NUL byte/);
});

test("checkSchedule() checks the shape: automatic needs five fields, manual takes none", () => {
  assert.equal(checkSchedule({}), undefined);
  assert.equal(checkSchedule({ snapshotMode: "manual" }), undefined);
  assert.equal(
    checkSchedule({
      snapshotMode: "automatic",
      snapshotFrequency: " */15  * * * 1-5 ",
      snapshotKeep: 3,
    }),
    undefined,
  );
  const cases: [Parameters<typeof checkSchedule>[0], RegExp][] = [
    [{ snapshotMode: "automatic" }, /needs snapshotFrequency/],
    [{ snapshotFrequency: "* * * * *" }, /apply only with snapshotMode "automatic"/],
    [{ snapshotMode: "manual", snapshotKeep: 2 }, /apply only/],
    [{ snapshotMode: "automatic", snapshotFrequency: "*/5 * * * * *" }, /five fields .*, got 6$/],
    [{ snapshotMode: "automatic", snapshotFrequency: "@hourly" }, /got 1$/],
    ...[0, -1, 1.5, 1001].map((keep): [Parameters<typeof checkSchedule>[0], RegExp] => [
      { snapshotMode: "automatic", snapshotFrequency: "0 * * * *", snapshotKeep: keep },
      new RegExp(`^Invalid snapshotKeep ${keep}: a whole number from 1 to 1000$`),
    ]),
  ];
  for (const [input, message] of cases) {
    const f = checkSchedule(input);
    assert.equal(f?.code, "invalid_snapshot_schedule", JSON.stringify(input));
    assert.match(f?.message ?? "", message);
  }
});
