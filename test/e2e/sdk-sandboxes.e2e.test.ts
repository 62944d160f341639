import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Sandbox as SandboxInfo } from "@strata/api";
import { Client, CommandError, FsError, type Sandbox, StrataError } from "@strata/sdk";
import { isRoot, REPO, TestDaemon } from "./harness.ts";

const decoder = new TextDecoder();

describe("the SDK's sandboxes against a real stratad", { skip: !isRoot && "needs root" }, () => {
  let d: TestDaemon;
  let client: Client;
  let sandbox: Sandbox;
  before(async () => {
    d = await TestDaemon.start(["--root-capacity", "2GB"]);
    client = new Client({ endpoint: d.url, token: d.token });
    sandbox = await client.sandboxes.create({ labels: { suite: "sdk" }, env: { GREETING: "hi" } });
  });
  after(async () => {
    await sandbox?.[Symbol.asyncDispose]();
    await d?.[Symbol.asyncDispose]();
  });

  const statusOf = async (id: string) =>
    (await d.api<SandboxInfo>("GET", `/v1/sandboxes/${id}`)).body.status;

  test("sh quotes values for the real shell and returns text, lines and JSON", async () => {
    const nasty = ["two words", "it's", "$GREETING", "back\\slash", "new\nline", "", "*"];
    const printed = await sandbox.sh`printf '%s\\0' ${nasty}`.text();
    assert.deepEqual(printed.split("\0").slice(0, -1), nasty);
    assert.equal(await sandbox.sh`echo $GREETING`.text(), "hi", "the sandbox's env applies");
    assert.deepEqual(await sandbox.sh`printf 'a\\nb\\n'`.lines(), ["a", "b"]);
    const json = await sandbox.sh`pwd; env`
      .cwd("/tmp")
      .env({ X: "1" })
      .lines()
      .then((lines) => ({ cwd: lines[0], x: lines.includes("X=1") }));
    assert.deepEqual(json, { cwd: "/tmp", x: true });
    assert.deepEqual(await sandbox.sh`echo '{"n":[1,2]}'`.json(), { n: [1, 2] });
    assert.equal(await sandbox.sh`tr a-z A-Z`.stdin("shout").text(), "SHOUT");
  });

  test("a failing command rejects with CommandError unless noThrow()", async () => {
    const err = await sandbox.sh`echo out; echo oops >&2; exit 3`.quiet().then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof CommandError);
    assert.ok(err instanceof StrataError);
    assert.equal(err.exitCode, 3);
    assert.equal(err.stdout, "out\n");
    assert.equal(err.stderr, "oops\n");
    const out = await sandbox.sh`exit 3`.noThrow();
    assert.deepEqual(out.status, { success: false, code: 3, signal: null });
    const missing = await sandbox.exec(["no-such-command"]);
    assert.equal(missing.status.code, 127);
  });

  test("spawn streams output before the process ends", async () => {
    const child = await sandbox.sh`echo a; sleep 1; echo b`.spawn();
    let ended = false;
    void child.status.then(() => {
      ended = true;
    });
    const chunks: { text: string; beforeExit: boolean }[] = [];
    for await (const chunk of child.stdout) {
      chunks.push({ text: decoder.decode(chunk), beforeExit: !ended });
    }
    assert.deepEqual(await child.status, { success: true, code: 0, signal: null });
    assert.equal(chunks[0]?.text, "a\n");
    assert.equal(chunks[0]?.beforeExit, true, "the first line arrived while the process ran");
    assert.equal(chunks.map((c) => c.text).join(""), "a\nb\n");
    assert.equal(typeof child.pid, "number");
  });

  test("spawn forwards stdin and separates stdout from stderr", async () => {
    const child = await sandbox.spawn(["sh", "-c", "wc -c; echo err >&2"], { stdin: "piped" });
    const writer = child.stdin!.getWriter();
    // 3 MiB: more than one WebSocket frame.
    await writer.write(new Uint8Array(3 * 1024 * 1024).fill(65));
    await writer.close();
    const out = await child.output();
    assert.equal(out.stdoutText.trim(), String(3 * 1024 * 1024));
    assert.equal(out.stderrText, "err\n");
    assert.equal(out.status.success, true);
  });

  test("kill() signals a spawned process, and disposing a child kills it", async () => {
    const child = await sandbox.sh`sleep 600`.spawn();
    await child.kill("SIGTERM");
    assert.deepEqual(await child.status, { success: false, code: 143, signal: "SIGTERM" });

    const sleeping = () =>
      sandbox.sh`cat /proc/[0-9]*/comm 2>/dev/null | grep -cx sleep`.noThrow().text();
    let disposed: Promise<{ signal: string | null }> | undefined;
    {
      await using sleeper = await sandbox.spawn(["sleep", "600"]);
      disposed = sleeper.status;
      assert.equal(await sleeping(), "1");
    }
    assert.equal((await disposed).signal, "SIGKILL");
    assert.equal(await sleeping(), "0", "no sleep is left running");
  });

  test("fs round trips text, a 5 MB binary, directories, modes and errors", async () => {
    const fs = sandbox.fs;
    await fs.mkdir("/srv/data/deep", { recursive: true });
    await fs.writeTextFile("/srv/data/hello.txt", "héllo\n");
    assert.equal(await fs.readTextFile("/srv/data/hello.txt"), "héllo\n");
    await fs.writeTextFile("/srv/data/hello.txt", "again\n", { append: true });
    assert.equal(await fs.readTextFile("/srv/data/hello.txt"), "héllo\nagain\n");

    const blob = new Uint8Array(randomBytes(5 * 1024 * 1024));
    await fs.writeFile("/srv/data/blob.bin", blob);
    const back = await fs.readFile("/srv/data/blob.bin");
    assert.equal(back.byteLength, blob.byteLength);
    assert.ok(Buffer.from(back).equals(Buffer.from(blob)), "the bytes come back unchanged");
    const info = await fs.stat("/srv/data/blob.bin");
    assert.equal(info.size, 5 * 1024 * 1024);
    assert.equal(info.isFile, true);
    assert.ok(info.mtime instanceof Date && Math.abs(info.mtime.getTime() - Date.now()) < 60_000);

    const parts = ["streamed ", "in ", "parts"].map((t) => new TextEncoder().encode(t));
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const p of parts) controller.enqueue(p);
        controller.close();
      },
    });
    await fs.writeFile("/srv/data/deep/streamed.txt", body);
    assert.equal(await fs.readTextFile("/srv/data/deep/streamed.txt"), "streamed in parts");

    await fs.chmod("/srv/data/hello.txt", 0o600);
    assert.equal((await fs.stat("/srv/data/hello.txt")).mode, 0o600);
    await fs.rename("/srv/data/hello.txt", "/srv/data/deep/hello.txt");
    const names = (await fs.readDir("/srv/data")).map((e) => `${e.name}:${e.isDirectory}`).sort();
    assert.deepEqual(names, ["blob.bin:false", "deep:true"]);

    await assert.rejects(fs.readFile("/srv/data/nope"), (err: unknown) => {
      assert.ok(err instanceof FsError);
      assert.equal(err.errno, "ENOENT");
      assert.equal(err.path, "/srv/data/nope");
      return true;
    });
    await assert.rejects(fs.readFile("/srv/data"), { name: "FsError", errno: "EISDIR" });
    await assert.rejects(fs.remove("/srv/data"), { name: "FsError" });
    await fs.remove("/srv/data", { recursive: true });
    assert.equal(await fs.exists("/srv/data"), false);
  });

  test("upload and download copy a folder with its files and modes", async () => {
    const host = await mkdtemp(join(tmpdir(), "strata-sdk-e2e-"));
    try {
      const src = join(host, "src");
      await mkdir(join(src, "bin"), { recursive: true });
      await mkdir(join(src, "empty"));
      await writeFile(join(src, "README"), "read me\n");
      await writeFile(join(src, "bin", "run.sh"), "#!/bin/sh\necho ran\n");
      await chmod(join(src, "bin", "run.sh"), 0o755);
      await writeFile(join(src, "bin", "data.bin"), randomBytes(200_000));

      await sandbox.fs.upload(src, "/opt/site");
      assert.equal(await sandbox.sh`/opt/site/bin/run.sh`.text(), "ran");
      const listing = await sandbox.sh`cd /opt/site && find . | sort`.lines();
      assert.deepEqual(listing, [
        ".",
        "./README",
        "./bin",
        "./bin/data.bin",
        "./bin/run.sh",
        "./empty",
      ]);

      const dst = join(host, "dst");
      await sandbox.fs.download("/opt/site", dst);
      for (const f of ["README", "bin/run.sh", "bin/data.bin"]) {
        assert.ok((await readFile(join(dst, f))).equals(await readFile(join(src, f))), f);
      }
      assert.equal((await stat(join(dst, "bin", "run.sh"))).mode & 0o777, 0o755);
      assert.ok((await stat(join(dst, "empty"))).isDirectory());

      await sandbox.fs.upload(join(src, "README"), "/root/README.copy");
      assert.equal(await sandbox.fs.readTextFile("/root/README.copy"), "read me\n");
    } finally {
      await rm(host, { recursive: true, force: true });
    }
  });

  test("await using kills a created sandbox; disposing a get() handle does not", async () => {
    let id = "";
    {
      await using owned = await client.sandboxes.create({ labels: { suite: "dispose" } });
      id = owned.id;
      {
        await using borrowed = await client.sandboxes.get(id);
        assert.equal(borrowed?.status, "ready");
      }
      assert.equal(await statusOf(id), "ready", "a get() handle leaves it running");
      const listed: string[] = [];
      for await (const s of await client.sandboxes.list({ labels: { suite: "dispose" } })) {
        listed.push(s.id);
        await s[Symbol.asyncDispose]();
      }
      assert.deepEqual(listed, [id]);
      assert.equal(await statusOf(id), "ready", "a list() handle leaves it running");
    }
    assert.equal(await statusOf(id), "stopped");
    const gone = await client.sandboxes.get(id);
    assert.equal(gone?.status, "stopped");
    assert.equal(gone?.info.stopReason, "killed");
  });

  test("extendTimeout() moves the expiry; a killed sandbox refuses commands", async () => {
    const s = await client.sandboxes.create({ timeout: "5m" });
    const before = new Date(s.info.expiresAt!).getTime();
    const after = await s.extendTimeout("2h");
    assert.ok(after.getTime() > before + 60 * 60_000);
    await s.kill();
    assert.equal(s.status, "stopped");
    await assert.rejects(async () => s.sh`true`, { code: "sandbox_not_running" });
    await assert.rejects(s.spawn(["true"]), { code: "sandbox_not_running" });
  });

  test("the CLI streams a one-off command and an exec live, with stdin and exit codes", async () => {
    const cli = (args: string[], input = "") =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [join(REPO, "packages/cli/src/main.ts"), ...args], {
          env: { ...process.env, STRATA_ENDPOINT: d.url, STRATA_TOKEN: d.token },
        });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (b: Buffer) => {
          stdout += b;
        });
        child.stderr.on("data", (b: Buffer) => {
          stderr += b;
        });
        child.on("exit", (code) => resolve({ code, stdout, stderr }));
        child.stdin.end(input);
      });
    const oneOff = await cli([
      "sandboxes",
      "create",
      "--label",
      "suite=cli",
      "--",
      "sh",
      "-c",
      "echo out; echo err >&2; exit 7",
    ]);
    assert.equal(oneOff.code, 7, oneOff.stderr);
    assert.equal(oneOff.stdout, "out\n");
    assert.equal(oneOff.stderr, "err\n");
    const left = await client.sandboxes.list({ labels: { suite: "cli" }, status: "ready" });
    assert.deepEqual(left.items, [], "the one-off sandbox was killed");

    const piped = await cli(["sandboxes", "exec", sandbox.id, "--", "wc", "-l"], "a\nb\nc\n");
    assert.equal(piped.code, 0, piped.stderr);
    assert.equal(piped.stdout.trim(), "3");
    const killed = await cli(["sandboxes", "exec", sandbox.id, "--", "sh", "-c", "kill -9 $$"]);
    assert.equal(killed.code, 137);
  });
});
