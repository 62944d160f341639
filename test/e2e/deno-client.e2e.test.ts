import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ApiError, Client, KillController, Sandbox } from "@deno/sandbox";
import type { Sandbox as StrataSandbox, Volume as StrataVolume } from "@strata/api";
import { fetchSandboxUrl, strataId, useDaemon } from "./deno-harness.ts";
import { isRoot, TestDaemon, waitFor } from "./harness.ts";

/**
 * The official `@deno/sandbox` client (pinned 0.13.2), unchanged, against a real stratad
 * started with `--region ord`: the console API, sandbox lifecycles, the process API and
 * the file API. Only environment variables point it at the daemon.
 */
describe("the official @deno/sandbox client against stratad --region ord", {
  skip: !isRoot && "needs root",
}, () => {
  let d: TestDaemon;
  let client: Client;
  const tag = Math.random().toString(36).slice(2, 8);
  let bootable: string;

  before(async () => {
    d = await TestDaemon.start(["--region", "ord"]);
    useDaemon(d);
    client = new Client();
    bootable = (
      await client.volumes.create({
        slug: `boot-${tag}`,
        region: "ord",
        capacity: "2GB",
        from: "builtin:debian-13",
      })
    ).slug;
  });
  after(async () => {
    await d?.[Symbol.asyncDispose]();
  });

  const strata = async (denoId: string) =>
    (await d.api<StrataSandbox>("GET", `/v1/sandboxes/${strataId(denoId)}`)).body;
  const stopped = (denoId: string) =>
    waitFor(
      `sandbox ${denoId} to stop`,
      async () => ((await strata(denoId)).status === "stopped" ? true : undefined),
      20_000,
    );

  test("volumes: create from builtin:debian-13, get, list with search and pages, delete; a missing one is null", async () => {
    const slugs = ["a", "b", "c"].map((x) => `pages-${x}-${tag}`);
    for (const slug of slugs) await client.volumes.create({ slug, region: "ord", capacity: "1GB" });
    const v = await client.volumes.get(slugs[0]!);
    assert.ok(v);
    assert.equal(v.slug, slugs[0]);
    assert.equal(v.region, "ord");
    assert.equal(v.capacity, 1e9);
    assert.equal(v.isBootable, false);
    assert.equal((await client.volumes.get(v.id))?.slug, slugs[0]);
    const boot = await client.volumes.get(bootable);
    assert.equal(boot?.isBootable, true);

    const first = await client.volumes.list({ search: `pages-`, limit: 2 });
    assert.equal(first.items.length, 2);
    assert.equal(first.hasMore, true);
    const all: string[] = [];
    for await (const vol of await client.volumes.list({ search: "pages-", limit: 2 }))
      all.push(vol.slug);
    assert.deepEqual(all.sort(), [...slugs].sort());

    for (const slug of slugs) await client.volumes.delete(slug);
    assert.equal(await client.volumes.get(slugs[0]!), null);
    await assert.rejects(
      client.volumes.delete(slugs[0]!),
      (e: unknown) => e instanceof ApiError && e.status === 404 && e.code === "volume_not_found",
    );
  });

  test("snapshots: client.volumes.snapshot, get, list, delete; the second delete is ApiError 404", async () => {
    const vol = await client.volumes.create({
      slug: `snapsrc-${tag}`,
      region: "ord",
      capacity: "1GB",
    });
    const snap = await client.volumes.snapshot(vol.id, { slug: `snap-${tag}` });
    assert.equal(snap.slug, `snap-${tag}`);
    assert.equal(snap.region, "ord");
    assert.deepEqual(snap.volume, { id: vol.id, slug: vol.slug });
    assert.equal((await client.snapshots.get(snap.slug))?.id, snap.id);
    const listed = (await client.snapshots.list({ search: `snap-${tag}` })).items.map(
      (s) => s.slug,
    );
    assert.deepEqual(listed, [`snap-${tag}`]);
    await client.snapshots.delete(snap.id);
    assert.equal(await client.snapshots.get(snap.id), null);
    await assert.rejects(
      client.snapshots.delete(snap.id),
      (e: unknown) => e instanceof ApiError && e.status === 404,
    );
    await client.volumes.delete(vol.slug);
  });

  test("root: a volume is writable and persists; a snapshot boots many ephemeral copy-on-write roots at once", async () => {
    const vol = await client.volumes.create({
      slug: `root-${tag}`,
      region: "ord",
      capacity: "2GB",
      from: "builtin:debian-13",
    });
    {
      await using sb = await client.sandboxes.create({ region: "ord", root: vol.slug });
      await sb.fs.writeTextFile("/opt/marker", "from the volume\n");
    }
    const snap = await client.volumes.snapshot(vol.slug, { slug: `root-${tag}-v1` });
    const [a, b] = await Promise.all([
      Sandbox.create({ root: snap.slug }),
      Sandbox.create({ root: snap.id }),
    ]);
    try {
      assert.notEqual(a.id, b.id);
      assert.match(a.id, /^sbx_ord_[0-9a-hjkmnp-z]{20}$/);
      assert.equal(await a.fs.readTextFile("/opt/marker"), "from the volume\n");
      await a.fs.writeTextFile("/opt/only-a", "a");
      await assert.rejects(
        b.fs.stat("/opt/only-a"),
        (e: unknown) => (e as { code?: string }).code === "ENOENT",
      );
    } finally {
      await a.close();
      await b.close();
    }
    await stopped(a.id);
    await stopped(b.id);
    await client.snapshots.delete(snap.slug);
    await client.volumes.delete(vol.slug);
  });

  test("labels, env and memory; client.sandboxes.list({labels}) finds the sandbox", async () => {
    await using sb = await Sandbox.create({
      labels: { job: `lbl-${tag}`, team: "a b" },
      env: { GREETING: "hello", EMPTY: "" },
      memory: "1GiB",
    });
    assert.equal(await sb.sh`echo "$GREETING"`.text(), "hello\n");
    assert.equal(await sb.env.get("GREETING"), "hello");
    assert.equal((await strata(sb.id)).memory, 2 ** 30);
    const found = await client.sandboxes.list({ labels: { job: `lbl-${tag}`, team: "a b" } });
    assert.deepEqual(
      found.map((s) => s.id),
      [sb.id],
    );
    assert.equal(found[0]?.status, "running");
    assert.deepEqual(found[0]?.labels, { job: `lbl-${tag}`, team: "a b" });
    assert.ok(found[0]?.createdAt instanceof Date);
    assert.deepEqual(await client.sandboxes.list({ labels: { job: "nobody" } }), []);
  });

  test("session mode: the sandbox ends when the client closes its socket, and its root volume is detached", async () => {
    const sb = await Sandbox.create({ root: bootable });
    assert.equal((await strata(sb.id)).status, "ready");
    await sb.close();
    await stopped(sb.id);
    assert.equal(
      (await d.api<StrataVolume>("GET", `/v1/volumes/${bootable}`)).body.attachedTo,
      null,
    );
  });

  test("a timed sandbox outlives close(); Sandbox.connect() reaches it; extendTimeout(); kill() closes every socket", async () => {
    const sb = await Sandbox.create({ timeout: "2m" });
    const id = sb.id;
    await sb.fs.writeTextFile("/tmp/kept", "still here");
    await sb.close();
    assert.equal((await strata(id)).status, "ready");
    await using again = await Sandbox.connect(id);
    assert.equal(again.id, id);
    assert.equal(await again.fs.readTextFile("/tmp/kept"), "still here");
    const before = Date.parse((await strata(id)).expiresAt ?? "");
    const until = await again.extendTimeout("10m");
    assert.ok(until.getTime() > Date.now() + 9 * 60_000);
    assert.ok(Date.parse((await strata(id)).expiresAt ?? "") > before);
    const other = await Sandbox.connect({ id });
    await again.kill();
    await other.closed;
    assert.equal((await strata(id)).status, "stopped");
    await assert.rejects(Sandbox.connect(id), /sandbox_not_running/);
  });

  test("port: sandbox.url reaches the HTTP server inside through the proxy (TLS over loopback)", async () => {
    await using sb = await Sandbox.create({ port: 8000 });
    assert.match(sb.url ?? "", /^https:\/\/[0-9a-z]{20}\.localhost:\d+$/);
    await sb.fs.writeTextFile(
      "/tmp/server.pl",
      `use IO::Socket::INET; my $s = IO::Socket::INET->new(LocalPort => 8000, Listen => 5, ReuseAddr => 1) or die "$!";
$| = 1; print "listening\\n";
while (my $c = $s->accept) { my $l = <$c>; my $b = "hello from $l"; print $c "HTTP/1.0 200 OK\\r\\nContent-Length: " . length($b) . "\\r\\n\\r\\n$b"; close $c; }`,
    );
    const server = await sb.spawn("perl", { args: ["/tmp/server.pl"], stdout: "piped" });
    const first = await server.stdout!.getReader().read();
    assert.equal(new TextDecoder().decode(first.value), "listening\n");
    const page = await fetchSandboxUrl(d, sb.url!, "/index.html");
    assert.equal(page.status, 200);
    assert.equal(page.body, "hello from GET /index.html HTTP/1.1\r\n");
    await server.kill("SIGKILL");
    assert.equal((await server.status).code, 137);
  });

  describe("one sandbox for the process and file APIs", () => {
    let sb: Sandbox;
    before(async () => {
      sb = await Sandbox.create({ timeout: "10m" });
    });
    after(async () => {
      await sb?.kill();
    });

    test("sh: text, json, noThrow, cwd, env, sudo, piped stdout and stderr, a failing command throws", async () => {
      const name = "it's";
      assert.equal(await sb.sh`echo ${name} $HOME`.text(), "it's /root\n");
      assert.deepEqual(await sb.sh`echo '{"a":[1,2]}'`.json(), { a: [1, 2] });
      const failed = await sb.sh`echo oops >&2; exit 3`.noThrow();
      assert.deepEqual(failed.status, { success: false, code: 3, signal: null, oom: false });
      const err = await sb.sh`echo why >&2; exit 4`.stderr("piped").then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.equal((err as { code?: number }).code, 4);
      assert.match(String((err as Error).message), /exit code 4\nwhy/);
      // 0.13.2 keeps only the last modifier of a chain, so each one is tested alone.
      await sb.sh`pwd > /tmp/cwd`.cwd("/etc");
      assert.equal(await sb.fs.readTextFile("/tmp/cwd"), "/etc\n");
      await sb.sh`echo "$X" > /tmp/env`.env("X", "from env()");
      assert.equal(await sb.fs.readTextFile("/tmp/env"), "from env()\n");
      const env = await sb.spawn("bash", {
        args: ["-c", "pwd; echo $X"],
        cwd: "/etc",
        env: { X: "y" },
        stdout: "piped",
      });
      assert.equal((await env.output()).stdoutText, "/etc\ny\n");
      assert.equal((await sb.sh`id -u`.sudo()).status.success, true);
      assert.equal(await sb.sh`sudo id -u`.text(), "0\n");
      const both = await sb.sh`echo out; echo err >&2`.stdout("piped");
      assert.equal(both.stdoutText, "out\n");
      const killed = new KillController();
      const running = await sb.sh`sleep 30`.signal(killed.signal).spawn();
      killed.kill("SIGKILL");
      assert.equal((await running.output()).status.code, 137);
    });

    test("spawn: piped stdin, stdout and stderr; output(); kill with signals; many at once; output streams as produced", async () => {
      const cat = await sb.spawn("cat", { stdin: "piped", stdout: "piped", stderr: "piped" });
      const w = cat.stdin!.getWriter();
      await w.write(new TextEncoder().encode("line 1\n"));
      await w.write(new TextEncoder().encode("line 2\n"));
      await w.close();
      const out = await cat.output();
      assert.equal(out.stdoutText, "line 1\nline 2\n");
      assert.equal(out.stderrText, "");
      assert.deepEqual(out.status, { success: true, code: 0, signal: null, oom: false });

      const sleeper = await sb.spawn("sleep", { args: ["30"], stdout: "null", stderr: "null" });
      await sleeper.kill("SIGTERM");
      assert.deepEqual(await sleeper.status, {
        success: false,
        code: 143,
        signal: "SIGTERM",
        oom: false,
      });
      await sleeper.kill("SIGKILL"); // ended already: ENOENT, which the client ignores

      const many = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          sb.spawn("bash", {
            args: ["-c", `echo ${i}; exit ${i}`],
            stdout: "piped",
            stderr: "null",
          }),
        ),
      );
      const results = await Promise.all(many.map((c) => c.output()));
      assert.deepEqual(
        results.map((r) => [r.stdoutText, r.status.code]),
        Array.from({ length: 8 }, (_, i) => [`${i}\n`, i]),
      );

      const slow = await sb.spawn("bash", {
        args: ["-c", "echo first; exec sleep 30"],
        stdout: "piped",
      });
      const reader = slow.stdout!.getReader();
      const chunk = await reader.read();
      assert.equal(
        new TextDecoder().decode(chunk.value),
        "first\n",
        "the first line arrives while the process runs",
      );
      await slow.kill("SIGKILL");
      assert.equal((await slow.status).signal, "SIGKILL");

      const abort = new AbortController();
      const aborted = await sb.spawn("sleep", { args: ["30"], signal: abort.signal });
      abort.abort();
      assert.equal((await aborted.status).code, 143);
      await assert.rejects(
        sb.spawn("no-such-command"),
        (e: unknown) => (e as { code?: string }).code === "ENOENT",
      );
    });

    test("files: read and write (bytes, text, streams), dirs, stat, links, chmod, chown, copy, truncate, temp files, walk, glob, env", async () => {
      const fs = sb.fs;
      await fs.mkdir("/work/a/b", { recursive: true });
      await fs.writeFile("/work/bin.dat", new Uint8Array([0, 1, 2, 255]));
      assert.deepEqual([...(await fs.readFile("/work/bin.dat"))], [0, 1, 2, 255]);
      await fs.writeTextFile("/work/a/t.txt", "héllo");
      await fs.writeTextFile("/work/a/t.txt", " wörld", { append: true });
      assert.equal(await fs.readTextFile("/work/a/t.txt"), "héllo wörld");
      await assert.rejects(
        fs.writeTextFile("/work/a/t.txt", "x", { createNew: true }),
        (e: unknown) => (e as { code?: string }).code === "EEXIST",
      );
      const big = new Uint8Array(3 * 1024 * 1024).map((_, i) => i % 251);
      await fs.writeFile("/work/stream.dat", new Blob([big]).stream());
      assert.deepEqual(await fs.readFile("/work/stream.dat"), big);
      await fs.writeTextFile("relative.txt", "in home");
      assert.equal(await fs.readTextFile("/root/relative.txt"), "in home");

      const names = [];
      for await (const e of fs.readDir("/work"))
        names.push(`${e.name}:${e.isDirectory ? "d" : "f"}`);
      assert.deepEqual(names.sort(), ["a:d", "bin.dat:f", "stream.dat:f"]);
      const st = await fs.stat("/work/bin.dat");
      assert.equal(st.isFile, true);
      assert.equal(st.size, 4);
      assert.ok(st.mtime instanceof Date && st.mtime.getTime() > Date.now() - 600_000);

      await fs.symlink("a/t.txt", "/work/link");
      assert.equal(await fs.readLink("/work/link"), "a/t.txt");
      assert.equal((await fs.lstat("/work/link")).isSymlink, true);
      assert.equal((await fs.stat("/work/link")).isFile, true);
      assert.equal(await fs.realPath("/work/link"), "/work/a/t.txt");
      await fs.link("/work/bin.dat", "/work/hard");
      assert.deepEqual([...(await fs.readFile("/work/hard"))], [0, 1, 2, 255]);
      await fs.chmod("/work/bin.dat", 0o600);
      assert.equal((await fs.stat("/work/bin.dat")).mode! & 0o777, 0o600);
      await fs.chown("/work/bin.dat", 1000, 1000);
      assert.equal((await fs.stat("/work/bin.dat")).uid, 1000);
      await fs.copyFile("/work/a/t.txt", "/work/copy.txt");
      assert.equal(await fs.readTextFile("/work/copy.txt"), "héllo wörld");
      await fs.truncate("/work/copy.txt", 2);
      assert.equal(await fs.readTextFile("/work/copy.txt"), "h\ufffd");
      await fs.rename("/work/copy.txt", "/work/moved.txt");
      await assert.rejects(
        fs.stat("/work/copy.txt"),
        (e: unknown) => (e as { code?: string }).code === "ENOENT",
      );
      await fs.utime(
        "/work/moved.txt",
        new Date("2020-01-02T03:04:05Z"),
        new Date("2021-01-02T03:04:05Z"),
      );
      assert.equal(
        (await fs.stat("/work/moved.txt")).mtime?.toISOString(),
        "2021-01-02T03:04:05.000Z",
      );
      const tmpDir = await fs.makeTempDir({ prefix: "deno-" });
      assert.match(tmpDir, /^\/tmp\/deno-/);
      const tmpFile = await fs.makeTempFile({ dir: "/work", suffix: ".log" });
      assert.match(tmpFile, /^\/work\/.*\.log$/);

      const walked = [];
      for await (const e of fs.walk("/work", { exts: [".txt"] })) walked.push(e.path);
      assert.deepEqual(walked.sort(), ["/work/a/t.txt", "/work/moved.txt"]);
      const skipped = [];
      for await (const e of fs.walk("/work", { skip: [/\/a$/], includeDirs: false }))
        skipped.push(e.path);
      assert.ok(!skipped.some((p) => p.startsWith("/work/a/")), skipped.join());
      const globbed = [];
      for await (const e of fs.expandGlob("**/*.txt", { root: "/work" })) globbed.push(e.path);
      assert.deepEqual(globbed.sort(), ["/work/a/t.txt", "/work/moved.txt"]);

      await fs.remove("/work/a", { recursive: true });
      await assert.rejects(
        fs.stat("/work/a"),
        (e: unknown) =>
          (e as { code?: string }).code === "ENOENT" &&
          (e as Error).constructor.name === "NotFound",
      );
      await assert.rejects(
        fs.readTextFile("/no/such/file"),
        (e: unknown) => (e as { code?: string }).code === "ENOENT",
      );

      await sb.env.set("COMPAT_VAR", "1");
      assert.equal((await sb.env.toObject()).COMPAT_VAR, "1");
      assert.equal(await sb.sh`echo $COMPAT_VAR`.text(), "1\n");
      await sb.env.delete("COMPAT_VAR");
      assert.equal(await sb.env.get("COMPAT_VAR"), undefined);
      await sb.env.delete("LANG");
      assert.equal(await sb.sh`echo "[$LANG]"`.text(), "[]\n");
    });

    test("FsFile: open, read, write, seek, stat, truncate, close; upload and download", async () => {
      const fs = sb.fs;
      await fs.writeTextFile("/tmp/f.txt", "0123456789");
      const f = await fs.open("/tmp/f.txt", { read: true, write: true });
      assert.equal(await f.seek(4, 0), 4);
      const buf = new Uint8Array(3);
      assert.equal(await f.read(buf), 3);
      assert.equal(new TextDecoder().decode(buf), "456");
      assert.equal(await f.write(new TextEncoder().encode("ab")), 2);
      assert.equal(await f.seek(-1, 2), 9);
      assert.equal((await f.stat()).size, 10);
      await f.truncate(5);
      await f.close();
      assert.equal(await fs.readTextFile("/tmp/f.txt"), "01234");
      const created = await fs.create("/tmp/new.txt");
      await created.write(new TextEncoder().encode("fresh"));
      await created.close();
      assert.equal(await fs.readTextFile("/tmp/new.txt"), "fresh");

      const local = await mkdtemp(join(tmpdir(), "deno-compat-"));
      try {
        await writeFile(join(local, "up.txt"), "uploaded");
        await fs.upload(join(local, "up.txt"), "/tmp/up.txt");
        assert.equal(await fs.readTextFile("/tmp/up.txt"), "uploaded");
        await fs.mkdir("/tmp/tree/sub", { recursive: true });
        await fs.writeTextFile("/tmp/tree/sub/x.txt", "x");
        await mkdir(join(local, "down"));
        await fs.download("/tmp/tree", join(local, "down"));
        assert.equal(await readFile(join(local, "down", "tree", "sub", "x.txt"), "utf8"), "x");
      } finally {
        await rm(local, { recursive: true, force: true });
      }
    });

    test("paths resolve inside the sandbox: a planted symlink to / reads the sandbox's files, not the host's", async () => {
      const marker = join(d.dataDir, "host-only.txt");
      await writeFile(marker, "host secret");
      await sb.fs.symlink("/", "/tmp/escape");
      await assert.rejects(
        sb.fs.readTextFile(`/tmp/escape${marker}`),
        (e: unknown) => (e as { code?: string }).code === "ENOENT",
      );
      await assert.rejects(
        sb.fs.copyFile(`/tmp/escape${marker}`, "/tmp/stolen"),
        (e: unknown) => (e as { code?: string }).code === "ENOENT",
      );
      assert.equal(await sb.fs.realPath("/tmp/escape/etc"), "/etc");
    });
  });
});
