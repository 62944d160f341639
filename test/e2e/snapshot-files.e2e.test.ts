import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chown, mkdir, readdir, readFile, rename, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { after, before, describe, test } from "node:test";
import type {
  DirEntry,
  ExecResult,
  FileStat,
  Sandbox,
  Snapshot,
  SnapshotDiff,
  Volume,
} from "@strata/api";
import { Client, FsError } from "@strata/sdk";
import { run } from "../../packages/daemon/src/lib/exec.ts";
import { SANDBOX_ID_BASE } from "../../packages/daemon/src/runtime/oci-spec.ts";
import { isRoot, REPO, TestDaemon, waitFor } from "./harness.ts";

type ErrorBody = { code: string; errno?: string; message: string };
const CLI = join(REPO, "packages/cli/src/main.ts");

describe("restore, snapshot files and diff against a real stratad", {
  skip: !isRoot && "needs root",
}, () => {
  let d: TestDaemon;
  let vol: Volume;
  let snap: Snapshot;
  before(async () => {
    d = await TestDaemon.start();
    // The base image builds in the background while the tests that need no sandbox run.
    const warm = await d.api<Volume>("POST", "/v1/volumes", {
      slug: "warm",
      region: "local",
      capacity: "2GB",
      from: "builtin:debian-13",
    });
    assert.ok(warm.status === 201 || warm.status === 202, JSON.stringify(warm.body));

    vol = await createVolume("hostile");
    // What hostile sandbox code could leave behind, written straight into the layer.
    const v = join(d.poolRoot, "writable", vol.id);
    await mkdir(join(v, "etc"));
    await mkdir(join(v, "dir/sub"), { recursive: true });
    await writeFile(join(v, "etc/passwd"), "tree passwd\n");
    await writeFile(join(v, "dir/file.txt"), "hello from the snapshot\n");
    await chown(join(v, "dir/file.txt"), SANDBOX_ID_BASE + 1000, SANDBOX_ID_BASE + 1000);
    await symlink("/etc/passwd", join(v, "abs"));
    await symlink("../../../../../../../etc/passwd", join(v, "dir/sub/up"));
    // Symlinks to host files that exist: the daemon's own token would be the prize.
    await symlink(join(d.dataDir, "admin.token"), join(v, "token"));
    await symlink(d.dataDir, join(v, "datadir"));
    await symlink("loop2", join(v, "loop1"));
    await symlink("loop1", join(v, "loop2"));
    await run(["mkfifo", join(v, "fifo")]);
    snap = await snapshotOf(vol.slug, "hostile-1");
  });
  after(async () => {
    await d?.[Symbol.asyncDispose]();
  });

  async function createVolume(slug: string): Promise<Volume> {
    const r = await d.api<Volume>("POST", "/v1/volumes", {
      slug,
      region: "local",
      capacity: "1GB",
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body;
  }
  async function snapshotOf(volume: string, slug: string): Promise<Snapshot> {
    const r = await d.api<Snapshot>("POST", `/v1/volumes/${volume}/snapshots`, { slug });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body;
  }
  const q = (path: string) => `path=${encodeURIComponent(path)}`;
  async function content(
    snapshot: string,
    path: string,
  ): Promise<{ status: number; text: string }> {
    const res = await fetch(new URL(`/v1/snapshots/${snapshot}/files/content?${q(path)}`, d.url), {
      headers: { authorization: `Bearer ${d.token}` },
    });
    return { status: res.status, text: await res.text() };
  }
  async function fails(path: string, status: number, code: string, errno: string) {
    const res = await content(snap.slug, path);
    assert.equal(res.status, status, `${path}: ${res.text}`);
    const body = JSON.parse(res.text) as ErrorBody;
    assert.equal(body.code, code, `${path}: ${res.text}`);
    assert.equal(body.errno, errno, `${path}: ${res.text}`);
    assert.ok(!res.text.includes(d.token), "the token never leaks");
  }

  test("the OpenAPI document describes restore, snapshot files and diff", async () => {
    const r = await d.api<{ paths: Record<string, Record<string, unknown>> }>(
      "GET",
      "/v1/openapi.json",
      undefined,
      null,
    );
    for (const [path, method] of [
      ["/v1/volumes/{idOrSlug}/restore", "post"],
      ["/v1/snapshots/{idOrSlug}/files", "get"],
      ["/v1/snapshots/{idOrSlug}/files/stat", "get"],
      ["/v1/snapshots/{idOrSlug}/files/content", "get"],
      ["/v1/snapshots/{idOrSlug}/diff", "get"],
    ] as const) {
      assert.ok(r.body.paths[path]?.[method], `documents ${method} ${path}`);
    }
    assert.match(JSON.stringify(r.body.paths["/v1/snapshots/{idOrSlug}/diff"]), /truncated/);
  });

  test("files are listed, described and streamed from a snapshot without booting it", async () => {
    const root = await d.api<DirEntry[]>("GET", `/v1/snapshots/${snap.slug}/files?${q("/")}`);
    assert.equal(root.status, 200, JSON.stringify(root.body));
    assert.deepEqual(root.body, [
      { name: "abs", type: "symlink" },
      { name: "datadir", type: "symlink" },
      { name: "dir", type: "directory" },
      { name: "etc", type: "directory" },
      { name: "fifo", type: "other" },
      { name: "loop1", type: "symlink" },
      { name: "loop2", type: "symlink" },
      { name: "token", type: "symlink" },
    ]);
    assert.deepEqual(await content(snap.id, "/dir/file.txt"), {
      status: 200,
      text: "hello from the snapshot\n",
    });
    const stat = await d.api<FileStat>(
      "GET",
      `/v1/snapshots/${snap.id}/files/stat?${q("/dir/file.txt")}`,
    );
    assert.equal(stat.body.type, "file");
    assert.equal(stat.body.size, 24);
    assert.equal(stat.body.uid, 1000, "owners as the sandbox sees them");
    const link = await d.api<FileStat>(
      "GET",
      `/v1/snapshots/${snap.id}/files/stat?${q("/abs")}&noFollow=true`,
    );
    assert.equal(link.body.type, "symlink");
    assert.equal(link.body.linkTarget, "/etc/passwd");
  });

  test("hostile symlinks resolve inside the snapshot and never reach a host file", async () => {
    assert.deepEqual(await content(snap.slug, "/abs"), { status: 200, text: "tree passwd\n" });
    assert.deepEqual(await content(snap.slug, "/dir/sub/up"), {
      status: 200,
      text: "tree passwd\n",
    });
    assert.deepEqual(await content(snap.slug, "/../../../etc/passwd"), {
      status: 200,
      text: "tree passwd\n",
    });
    await fails("/token", 404, "file_not_found", "ENOENT");
    await fails("/datadir/admin.token", 404, "file_not_found", "ENOENT");
    await fails("/loop1", 400, "file_error", "ELOOP");
    await fails("/etc/passwd/x", 400, "file_error", "ENOTDIR");
    await fails("/dir", 400, "file_error", "EISDIR");
    await fails("/fifo", 400, "file_error", "EINVAL");
    const list = await d.api<ErrorBody>("GET", `/v1/snapshots/${snap.slug}/files?${q("/datadir")}`);
    assert.equal(list.status, 404);
    assert.equal(list.body.errno, "ENOENT");
    const notDir = await d.api<ErrorBody>("GET", `/v1/snapshots/${snap.slug}/files?${q("/abs")}`);
    assert.equal(notDir.body.errno, "ENOTDIR");
  });

  test("bad paths and missing snapshots are clear 4xx errors", async () => {
    const rel = await d.api<ErrorBody>("GET", `/v1/snapshots/${snap.slug}/files?${q("etc")}`);
    assert.equal(rel.status, 400);
    assert.equal(rel.body.code, "invalid_request");
    const missing = await d.api<ErrorBody>("GET", `/v1/snapshots/nope/files?${q("/")}`);
    assert.equal(missing.status, 404);
    assert.equal(missing.body.code, "snapshot_not_found");
    const noPath = await d.api<ErrorBody>("GET", `/v1/snapshots/${snap.slug}/files`);
    assert.equal(noPath.status, 400);
  });

  test("diff lists what changed between snapshots and against the live volume, and leaves no layer behind", async () => {
    const v = join(d.poolRoot, "writable", vol.id);
    await writeFile(join(v, "dir/file.txt"), "changed\n");
    await writeFile(join(v, "new file"), "x");
    await rename(join(v, "dir/sub"), join(v, "dir/moved"));
    const two = await snapshotOf(vol.slug, "hostile-2");
    const d12 = await d.api<SnapshotDiff>("GET", `/v1/snapshots/${snap.slug}/diff?to=${two.slug}`);
    assert.equal(d12.status, 200, JSON.stringify(d12.body));
    assert.deepEqual(d12.body, {
      base: { kind: "snapshot", id: snap.id, slug: snap.slug },
      target: { kind: "snapshot", id: two.id, slug: two.slug },
      added: ["/dir/moved", "/dir/moved/up", "/new file"],
      removed: ["/dir/sub", "/dir/sub/up"],
      changed: ["/dir/file.txt"],
      truncated: false,
    });

    await writeFile(join(v, "etc/passwd"), "edited live\n");
    const live = await d.api<SnapshotDiff>("GET", `/v1/snapshots/${two.id}/diff?to=${vol.slug}`);
    assert.equal(live.status, 200, JSON.stringify(live.body));
    assert.deepEqual(live.body.target, { kind: "volume", id: vol.id, slug: vol.slug });
    assert.deepEqual(
      [live.body.added, live.body.removed, live.body.changed],
      [[], [], ["/etc/passwd"]],
    );
    const readonly = await readdir(join(d.poolRoot, "readonly"));
    assert.deepEqual(
      readonly.filter((id) => !id.startsWith("snp_")),
      [],
      "the volume's temporary snapshot is gone",
    );

    const cut = await d.api<SnapshotDiff>(
      "GET",
      `/v1/snapshots/${snap.slug}/diff?to=${two.slug}&limit=1`,
    );
    assert.deepEqual(cut.body.added, ["/dir/moved"]);
    assert.equal(cut.body.truncated, true);
    const nowhere = await d.api<ErrorBody>("GET", `/v1/snapshots/${snap.slug}/diff?to=nope`);
    assert.equal(nowhere.status, 404);
    assert.equal(nowhere.body.code, "diff_target_not_found");
  });

  test("restore rolls a volume back in place; a snapshot of another volume or a missing one is refused", async () => {
    const v = join(d.poolRoot, "writable", vol.id);
    const restored = await d.api<Volume>("POST", `/v1/volumes/${vol.slug}/restore`, {
      snapshot: snap.slug,
    });
    assert.equal(restored.status, 200, JSON.stringify(restored.body));
    assert.equal(restored.body.id, vol.id);
    assert.equal(restored.body.slug, vol.slug);
    assert.equal(restored.body.capacity, vol.capacity);
    assert.equal(await readFile(join(v, "dir/file.txt"), "utf8"), "hello from the snapshot\n");
    assert.equal(await readFile(join(v, "etc/passwd"), "utf8"), "tree passwd\n");
    await assert.rejects(readFile(join(v, "new file")), { code: "ENOENT" });
    // The capacity is the qgroup limit of the new subvolume, less what the volume inherited
    // from the snapshot: under simple quotas the qgroup counts only what the volume writes.
    const held = (await d.api<Snapshot>("GET", `/v1/snapshots/${snap.slug}`)).body.flattenedSize;
    const { stdout } = await run(["btrfs", "qgroup", "show", "-re", "--raw", v]);
    assert.match(stdout, new RegExp(`\\s${vol.capacity - held}\\s`));
    // The snapshot is unchanged and the volume writable.
    await writeFile(join(v, "after"), "x");
    assert.equal((await content(snap.slug, "/after")).status, 404);
    assert.deepEqual(await readdir(join(d.poolRoot, "tmp")), []);
    assert.deepEqual(
      (await readdir(join(d.poolRoot, "trash"))).filter((n) => n.includes(vol.id)),
      [],
    );

    const other = await createVolume("other");
    const otherSnap = await snapshotOf(other.slug, "other-1");
    const wrong = await d.api<ErrorBody>("POST", `/v1/volumes/${vol.slug}/restore`, {
      snapshot: otherSnap.slug,
    });
    assert.equal(wrong.status, 400);
    assert.equal(wrong.body.code, "snapshot_not_of_volume");
    const missing = await d.api<ErrorBody>("POST", `/v1/volumes/${vol.slug}/restore`, {
      snapshot: "nope",
    });
    assert.equal(missing.status, 404);
    assert.equal(missing.body.code, "snapshot_not_found");
    const noVolume = await d.api<ErrorBody>("POST", "/v1/volumes/nope/restore", {
      snapshot: snap.slug,
    });
    assert.equal(noVolume.body.code, "volume_not_found");
  });

  test("a volume attached to a sandbox cannot be restored; sandbox-planted symlinks stay inside the snapshot", async () => {
    // The sandbox's root is the base image: wait for its build (started in before()).
    await waitFor(
      "the base image",
      async () => {
        const w = await d.api<Volume>("GET", "/v1/volumes/warm");
        assert.notEqual(w.body.status, "failed", w.body.failureReason ?? "");
        return w.body.status === "ready" ? true : undefined;
      },
      20 * 60_000,
    );
    const data = await createVolume("attached");
    const first = await snapshotOf(data.slug, "attached-empty");
    const created = await d.api<Sandbox>("POST", "/v1/sandboxes", {
      volumes: { "/data": data.slug },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const sbx = created.body;
    try {
      const exec = await d.api<ExecResult>("POST", `/v1/sandboxes/${sbx.id}/exec`, {
        command:
          "echo from-sandbox > /data/note && ln -s /etc/shadow /data/shadow && ln -s ../../../../etc/hostname /data/host",
      });
      assert.equal(exec.status, 200, JSON.stringify(exec.body));
      assert.equal(exec.body.exitCode, 0, Buffer.from(exec.body.stderr, "base64").toString());
      const busy = await d.api<ErrorBody>("POST", `/v1/volumes/${data.slug}/restore`, {
        snapshot: first.slug,
      });
      assert.equal(busy.status, 409);
      assert.equal(busy.body.code, "volume_in_use");
      assert.match(busy.body.message, new RegExp(sbx.id));
    } finally {
      assert.equal((await d.api("DELETE", `/v1/sandboxes/${sbx.id}`)).status, 204);
    }
    const written = await snapshotOf(data.slug, "attached-written");
    assert.deepEqual(await content(written.slug, "/note"), { status: 200, text: "from-sandbox\n" });
    for (const p of ["/shadow", "/host"]) {
      const r = await content(written.slug, p);
      assert.equal(r.status, 404, `${p}: ${r.text}`);
    }
    const restored = await d.api<Volume>("POST", `/v1/volumes/${data.slug}/restore`, {
      snapshot: first.slug,
    });
    assert.equal(restored.status, 200, JSON.stringify(restored.body));
    assert.deepEqual(await readdir(join(d.poolRoot, "writable", data.id)), []);
  });

  test("the SDK and the CLI restore, list, read and diff", async () => {
    const client = new Client({ endpoint: d.url, token: d.token });
    const entries = await client.snapshots.files.list(snap.slug, "/dir");
    assert.deepEqual(
      entries.map((e) => [e.name, e.isDirectory]),
      [
        ["file.txt", false],
        ["sub", true],
      ],
    );
    assert.equal(await client.snapshots.files.readText(snap.slug, "/abs"), "tree passwd\n");
    const info = await client.snapshots.files.stat(snap.slug, "/abs", { noFollow: true });
    assert.equal(info.isSymlink, true);
    await assert.rejects(client.snapshots.files.read(snap.slug, "/loop1"), (err: unknown) => {
      assert.ok(err instanceof FsError);
      assert.equal(err.errno, "ELOOP");
      assert.equal(err.path, "/loop1");
      return true;
    });
    const diff = await client.snapshots.diff(snap.slug, "hostile-2");
    assert.deepEqual(diff.changed, ["/dir/file.txt"]);
    const back = await client.volumes.restore(vol.slug, { snapshot: "hostile-2" });
    assert.equal(back.id, vol.id);

    const cat = await strata("snapshots", "cat", snap.slug, "/dir/file.txt");
    assert.deepEqual([cat.code, cat.stdout], [0, "hello from the snapshot\n"]);
    const ls = await strata("snapshots", "files", snap.slug, "/dir");
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /^TYPE\s+NAME$/m);
    assert.match(ls.stdout, /^file\s+file\.txt$/m);
    assert.match(ls.stdout, /^dir\s+sub\/$/m);
    const table = await strata("snapshots", "diff", snap.slug, "hostile-2");
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^M {2}\/dir\/file\.txt$/m);
    assert.match(table.stdout, /^A {2}\/new file$/m);
    assert.match(table.stdout, /3 added, 2 removed, 1 changed/);
    const json = await strata("--json", "snapshots", "diff", snap.slug, vol.slug);
    assert.equal(json.code, 0, json.stderr);
    assert.equal((JSON.parse(json.stdout) as SnapshotDiff).target.kind, "volume");
    const restore = await strata("--json", "volumes", "restore", vol.slug, snap.slug);
    assert.equal(restore.code, 0, restore.stderr);
    assert.equal((JSON.parse(restore.stdout) as Volume).id, vol.id);
    const wrong = await strata("volumes", "restore", vol.slug, "other-1");
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /from snapshot "other-1": the snapshot was taken of volume "other"/);
    const missing = await strata("snapshots", "cat", snap.slug, "/token");
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /No such file or directory/);
  });

  test("a restore interrupted by a crash is finished on the next start; a diff's temporary layer is removed", async () => {
    const crashVol = await createVolume("crashy");
    const cv = join(d.poolRoot, "writable", crashVol.id);
    await writeFile(join(cv, "f"), "snapshot content");
    const cs = await snapshotOf(crashVol.slug, "crashy-1");
    await writeFile(join(cv, "f"), "live content");
    await d.crash();
    // The state of a restore killed between moving the old layer away and renaming the new one in.
    await run([
      "btrfs",
      "subvolume",
      "snapshot",
      join(d.poolRoot, "readonly", cs.id),
      join(d.poolRoot, "tmp", `${crashVol.id}@restore`),
    ]);
    await rename(cv, join(d.poolRoot, "trash", `${crashVol.id}@replaced`));
    await run([
      "btrfs",
      "subvolume",
      "snapshot",
      "-r",
      join(d.poolRoot, "readonly", cs.id),
      join(d.poolRoot, "readonly", "dif_leftover"),
    ]);
    const db = new DatabaseSync(join(d.dataDir, "strata.db"));
    db.prepare("UPDATE volumes SET restoring_from = ? WHERE id = ?").run(cs.id, crashVol.id);
    db.close();
    await d.start();

    assert.equal(await readFile(join(cv, "f"), "utf8"), "snapshot content");
    assert.deepEqual(await readdir(join(d.poolRoot, "tmp")), []);
    assert.deepEqual(
      (await readdir(join(d.poolRoot, "trash"))).filter((n) => n.includes(crashVol.id)),
      [],
    );
    assert.ok(!(await readdir(join(d.poolRoot, "readonly"))).includes("dif_leftover"));
    const after = await d.api<Volume>("GET", `/v1/volumes/${crashVol.slug}`);
    assert.equal(after.body.status, "ready");
    // The intent is cleared: the volume can be restored (and attached) again.
    const again = await d.api<Volume>("POST", `/v1/volumes/${crashVol.slug}/restore`, {
      snapshot: cs.slug,
    });
    assert.equal(again.status, 200, JSON.stringify(again.body));
  });

  function strata(
    ...args: string[]
  ): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [CLI, ...args], {
        env: { ...process.env, STRATA_ENDPOINT: d.url, STRATA_TOKEN: d.token, NO_COLOR: "1" },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (b: Buffer) => (stdout += b));
      child.stderr.on("data", (b: Buffer) => (stderr += b));
      child.on("exit", (code) => resolve({ code, stdout, stderr }));
    });
  }
});
