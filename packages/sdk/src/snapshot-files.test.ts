import assert from "node:assert/strict";
import { test } from "node:test";
import type { SnapshotDiff } from "@strata/api";
import { Client } from "./client.ts";
import { FsError } from "./errors.ts";
import { startFakeDaemon, volumeFixture } from "./test-server.ts";

const TOKEN = "stk_test";

test("snapshots.files reads list, stat and content at the snapshot's paths", async () => {
  await using daemon = await startFakeDaemon((req) => {
    const path = req.url.searchParams.get("path");
    if (req.url.pathname === "/v1/snapshots/app%20v1/files")
      return {
        json: [
          { name: "hosts", type: "file" },
          { name: "ssl", type: "directory" },
        ],
      };
    if (req.url.pathname === "/v1/snapshots/app%20v1/files/stat")
      return {
        json: {
          path,
          type: "symlink",
          mode: 0o777,
          uid: 0,
          gid: 0,
          size: 11,
          mtime: "2026-01-01T00:00:00.000Z",
          linkTarget: "/etc/passwd",
        },
      };
    if (path === "/loop")
      return {
        status: 400,
        json: { code: "file_error", errno: "ELOOP", message: 'Cannot read "/loop": ...' },
      };
    return { bytes: new TextEncoder().encode("127.0.0.1 localhost\n") };
  });
  const client = new Client({ endpoint: daemon.url, token: TOKEN });
  const entries = await client.snapshots.files.list("app v1", "/etc");
  assert.deepEqual(
    entries.map((e) => [e.name, e.isDirectory]),
    [
      ["hosts", false],
      ["ssl", true],
    ],
  );
  const info = await client.snapshots.files.stat("app v1", "/etc/link", { noFollow: true });
  assert.equal(info.isSymlink, true);
  assert.equal(info.linkTarget, "/etc/passwd");
  assert.equal(
    await client.snapshots.files.readText("app v1", "/etc/hosts"),
    "127.0.0.1 localhost\n",
  );
  await assert.rejects(client.snapshots.files.read("app v1", "/loop"), (err: unknown) => {
    assert.ok(err instanceof FsError);
    assert.equal(err.errno, "ELOOP");
    assert.equal(err.path, "/loop");
    return true;
  });
  const urls = daemon.requests.map((r) => `${r.url.pathname}?${r.url.searchParams}`);
  assert.deepEqual(urls, [
    "/v1/snapshots/app%20v1/files?path=%2Fetc",
    "/v1/snapshots/app%20v1/files/stat?path=%2Fetc%2Flink&noFollow=true",
    "/v1/snapshots/app%20v1/files/content?path=%2Fetc%2Fhosts",
    "/v1/snapshots/app%20v1/files/content?path=%2Floop",
  ]);
});

test("snapshots.diff() and volumes.restore() send what the API expects", async () => {
  const diff: SnapshotDiff = {
    base: { kind: "snapshot", id: "snp_1", slug: "v1" },
    target: { kind: "volume", id: "vol_1", slug: "data" },
    added: ["/a"],
    removed: [],
    changed: ["/etc/hosts"],
    truncated: false,
  };
  await using daemon = await startFakeDaemon((req) =>
    req.method === "GET" ? { json: diff } : { json: volumeFixture({ slug: "data" }) },
  );
  const client = new Client({ endpoint: daemon.url, token: TOKEN });
  assert.deepEqual(await client.snapshots.diff("v1", "data", { limit: 5 }), diff);
  const restored = await client.volumes.restore("data", { snapshot: "v1" });
  assert.equal(restored.slug, "data");
  const [get, post] = daemon.requests;
  assert.equal(
    `${get?.url.pathname}?${get?.url.searchParams}`,
    "/v1/snapshots/v1/diff?to=data&limit=5",
  );
  assert.equal(post?.method, "POST");
  assert.equal(post?.url.pathname, "/v1/volumes/data/restore");
  assert.deepEqual(post?.body, { snapshot: "v1" });
});
