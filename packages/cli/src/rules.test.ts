import assert from "node:assert/strict";
import { test } from "node:test";
import { fakeDaemon, ID, strata } from "./test-cli.ts";

test("strata checks arguments with the contract's rules and exits 2 with the rule's message", async () => {
  await using daemon = await fakeDaemon(() => ({ status: 500, json: {} }));
  const cases: [string[], RegExp][] = [
    [
      ["volumes", "create", "x-", "--capacity", "1GB"],
      /Invalid slug "x-": a slug is 2–63 characters/,
    ],
    [["volumes", "create", "ab--cd", "--capacity", "1GB"], /Invalid slug "ab--cd"/],
    [["volumes", "create", "okay", "--capacity", "lots"], /Invalid capacity "lots"/],
    [["snapshots", "create", "vol", "a"], /Invalid slug "a"/],
    [["sandboxes", "snapshot", ID, "x".repeat(64)], /Invalid snapshot name "x{64}"/],
    [["sandboxes", "create", "--label", "bad key!=x"], /Invalid label key "bad key!"/],
    [["sandboxes", "create", "--env", "1BAD=x"], /Invalid environment variable name "1BAD"/],
    [
      ["sandboxes", "create", "--volume", "/proc/x=data"],
      /Invalid mount path "\/proc\/x": volumes cannot be mounted over \/proc/,
    ],
    [
      ["sandboxes", "create", "--volume", "/a=x", "--volume", "/a/b=y"],
      /"\/a\/b": it overlaps "\/a"/,
    ],
    [
      ["sandboxes", "create", "--memory", "1KiB"],
      /Invalid memory "1KiB": give a size between 64 MiB and 16 GiB/,
    ],
    [["sandboxes", "create", "--cpus", "0.01"], /Invalid cpus 0\.01: at least 0\.1/],
    [["sandboxes", "create", "--port", "0"], /Invalid port 0: 1–65535/],
    [["sandboxes", "create", "--timeout", "0s"], /Invalid timeout "0s"/],
    [["sandboxes", "create", "--snapshot-frequency", "* * *"], /give five fields .*, got 3/],
    [["sandboxes", "create", "--snapshot-keep", "1001"], /Invalid snapshotKeep 1001/],
    [["org", "set", "--snapshot-retention", "4000d"], /Invalid retention "4000d"/],
  ];
  for (const [args, message] of cases) {
    const { code, stderr } = await strata(daemon.url, args);
    assert.equal(code, 2, `${args.join(" ")}: ${stderr}`);
    assert.match(stderr, message, args.join(" "));
  }
  assert.deepEqual(daemon.seen, [], "nothing reached the daemon");
});

test("strata passes names the shared rule allows, dots included", async () => {
  await using daemon = await fakeDaemon(() => ({
    status: 404,
    json: { code: "volume_not_found", message: "no" },
  }));
  const { code, stderr } = await strata(daemon.url, [
    "snapshots",
    "create",
    "vol",
    "api-env-v1.0.0",
  ]);
  assert.equal(code, 1, stderr);
  assert.deepEqual(
    daemon.seen.map((r) => `${r.method} ${new URL(r.url).pathname}`),
    ["POST /v1/volumes/vol/snapshots"],
  );
});
