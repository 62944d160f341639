import assert from "node:assert/strict";
import { access, chmod, copyFile, readdir, readFile, stat } from "node:fs/promises";
import { request } from "node:http";
import { connect, createServer } from "node:net";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { ExecResult, Sandbox, Volume } from "@strata/api";
import { derivePrefix } from "../../packages/daemon/src/config.ts";
import { run } from "../../packages/daemon/src/lib/exec.ts";
import { isRoot, TestDaemon, waitFor } from "./harness.ts";

const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  );
const b64 = (s: string) => Buffer.from(s).toString("base64");
const text = (s: string) => Buffer.from(s, "base64").toString();

const BTRFS_HELPER = new URL("../../packages/btrfs-helper/build/strata-btrfs", import.meta.url);
const PERL_HTTP = await readFile(new URL("./fixtures/server.pl", import.meta.url), "utf8");

/** Sends an HTTP Upgrade through the port proxy, then `payload`; resolves with the status line and the echo. */
function upgradeThroughProxy(
  port: number,
  host: string,
  payload: string,
): Promise<{ status: string; echo: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let buf = "";
    let status = "";
    socket.setTimeout(10_000, () => socket.destroy(new Error("no answer through the proxy")));
    socket.on("error", reject);
    socket.on("data", (chunk) => {
      buf += chunk.toString();
      if (!status && buf.includes("\r\n\r\n")) {
        status = buf.split("\r\n")[0] ?? "";
        buf = buf.slice(buf.indexOf("\r\n\r\n") + 4);
        socket.write(payload);
      }
      if (status && buf.length >= payload.length) {
        socket.destroy();
        resolve({ status, echo: buf });
      }
    });
    socket.write(
      `GET /ws HTTP/1.1\r\nhost: ${host}\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n`,
    );
  });
}

describe("sandboxes against a real stratad", { skip: !isRoot && "needs root" }, () => {
  let d: TestDaemon;
  before(async () => {
    d = await TestDaemon.start(["--root-capacity", "2GB"]);
  });
  after(async () => {
    await d?.[Symbol.asyncDispose]();
  });

  const create = async (body: Record<string, unknown> = {}) => {
    const r = await d.api<Sandbox>("POST", "/v1/sandboxes", body);
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body;
  };
  const sh = async (id: string, command: string, extra: Record<string, unknown> = {}) => {
    const r = await d.api<ExecResult>("POST", `/v1/sandboxes/${id}/exec`, { command, ...extra });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return { ...r.body, out: text(r.body.stdout), err: text(r.body.stderr) };
  };
  const kill = async (id: string) =>
    assert.equal((await d.api("DELETE", `/v1/sandboxes/${id}`)).status, 204);

  test("a sandbox from the base image runs commands as root in its own namespaces, mapped to an unprivileged host uid", async () => {
    const s = await create();
    assert.equal(s.status, "ready");
    assert.deepEqual(s.root, { kind: "image", image: "builtin:debian-13" });
    const r = await sh(
      s.id,
      "cat /etc/debian_version; id -u; echo $$; ls /proc | grep -c '^[0-9]'",
    );
    const [version, uid, pid] = r.out.trim().split("\n");
    assert.match(version ?? "", /^(13|trixie)/);
    assert.equal(uid, "0");
    assert.notEqual(pid, "1", "the agent is PID 1");
    await sh(s.id, "echo owned > /root/owned");
    const st = await stat(join(d.poolRoot, "writable", s.id, "root/owned"));
    assert.equal(st.uid, 100_000, "root inside is uid 100000 on the host");
    await kill(s.id);
  });

  test("seccomp refuses new namespaces in every sandbox, also those started with the filter compiled for an earlier one", async () => {
    for (const s of [await create(), await create(), await create()]) {
      const r = await sh(s.id, "unshare -U true; echo unshare=$?");
      assert.match(r.out, /unshare=1/, `${s.id}: ${r.out} ${r.err}`);
      assert.match(r.err, /Operation not permitted/);
      await kill(s.id);
    }
  });

  test("ending a sandbox removes its container, network, ephemeral root, bundle and cgroup", async () => {
    const s = await create();
    const prefix = derivePrefix(d.dataDir);
    const init = JSON.parse(await readFile(`/run/${prefix}/crun/${s.id}/status`, "utf8")) as {
      pid: number;
    };
    // Its netns may have been made ahead (the warm pool names it by a pool token).
    const netns = (await run(["ip", "netns", "identify", String(init.pid)])).stdout.trim();
    assert.ok(netns.startsWith(`${prefix}-`), `the sandbox is in its own netns: ${netns}`);
    assert.equal(
      (await readdir("/run/netns")).filter((n) => n === netns).length,
      1,
      "one network namespace while it runs",
    );
    const procs = (await sh(s.id, "sleep 1000 & echo $!")).out.trim();
    assert.match(procs, /^[0-9]+$/);
    await kill(s.id);
    // DELETE answers once nothing of the sandbox runs: its init is gone (its background
    // sleep with it, since the init reaps everything before it exits).
    const state = await readFile(`/proc/${init.pid}/stat`, "utf8").catch(() => "gone");
    assert.ok(state === "gone" || / Z /.test(state), `init ${init.pid} still runs: ${state}`);
    const gone = await d.api<Sandbox>("GET", `/v1/sandboxes/${s.id}`);
    assert.equal(gone.body.status, "stopped");
    assert.equal(gone.body.stopReason, "killed");
    // The host state goes right after, in the background.
    const leftovers = async () => {
      const left: string[] = [];
      if (await exists(join(d.poolRoot, "writable", s.id))) left.push("root");
      if ((await readdir("/run/netns")).includes(netns)) left.push("netns");
      if (await exists(`/run/${prefix}/crun/${s.id}`)) left.push("crun state");
      if (await exists(`/run/${prefix}/bundles/${s.id}`)) left.push("bundle");
      for (const controller of ["memory", "pids", "cpu"])
        if (await exists(`/sys/fs/cgroup/${controller}/${prefix}/${s.id}`))
          left.push(`${controller} cgroup`);
      return left;
    };
    await waitFor("the sandbox's host state to be removed", async () =>
      (await leftovers()).length === 0 ? true : undefined,
    );
    const ended = await d.api<{ code: string }>("POST", `/v1/sandboxes/${s.id}/exec`, {
      command: "true",
    });
    assert.equal(ended.status, 409);
    assert.equal(ended.body.code, "sandbox_not_running");
  });

  test("exec returns exit codes, stdout, stderr and signals as data, with stdin, env and cwd", async () => {
    const s = await create({ env: { GREETING: "hi" } });
    assert.equal((await sh(s.id, "exit 7")).exitCode, 7);
    const r = await sh(s.id, "echo $GREETING $EXTRA; pwd; echo oops >&2; cat", {
      env: { EXTRA: "there" },
      cwd: "/tmp",
      stdin: b64("from stdin"),
    });
    assert.equal(r.out, "hi there\n/tmp\nfrom stdin");
    assert.equal(r.err, "oops\n");
    const killed = await sh(s.id, "kill -KILL $$");
    assert.equal(killed.signal, "SIGKILL");
    const missing = await d.api<ExecResult>("POST", `/v1/sandboxes/${s.id}/exec`, {
      argv: ["no-such-command"],
    });
    assert.equal(missing.body.exitCode, 127);
    const many = await Promise.all(Array.from({ length: 20 }, (_, i) => sh(s.id, `echo ${i}`)));
    assert.deepEqual(
      many.map((m) => m.out),
      Array.from({ length: 20 }, (_, i) => `${i}\n`),
    );
    await kill(s.id);
  });

  test("exec over WebSocket streams output, takes stdin sent before it started, and accepts the token as a subprotocol", async () => {
    const s = await create();
    const url = `${d.url.replace("http", "ws")}/v1/sandboxes/${s.id}/exec/ws`;
    const ws = new WebSocket(url, ["strata.v1", `strata.bearer.${d.token}`]);
    ws.binaryType = "arraybuffer";
    const texts: { type: string; exitCode?: number }[] = [];
    let out = "";
    const closed = new Promise<void>((resolve) => {
      ws.onclose = () => resolve();
    });
    ws.onmessage = (ev) => {
      if (typeof ev.data === "string") texts.push(JSON.parse(ev.data) as { type: string });
      else out += Buffer.from(new Uint8Array(ev.data as ArrayBuffer).subarray(1)).toString();
    };
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error("the WebSocket did not open"));
    });
    assert.equal(ws.protocol, "strata.v1");
    // Everything at once, before the daemon could answer "started".
    ws.send(JSON.stringify({ command: "cat; echo done >&2", stdin: true }));
    ws.send(Buffer.from("early bytes\n"));
    ws.send(JSON.stringify({ type: "stdin_close" }));
    await closed;
    assert.equal(out, "early bytes\ndone\n");
    assert.deepEqual(
      texts.map((t) => t.type),
      ["started", "exit"],
    );
    assert.equal(texts[1]?.exitCode, 0);
    const denied = new WebSocket(url, ["strata.v1", "strata.bearer.wrong"]);
    const outcome = await new Promise<string>((resolve) => {
      denied.onopen = () => resolve("opened");
      denied.onerror = () => resolve("refused");
    });
    assert.equal(outcome, "refused");
    await kill(s.id);
  });

  test("files resolve inside the sandbox: planted symlinks never reach the host", async () => {
    const s = await create();
    const put = await fetch(
      new URL(`/v1/sandboxes/${s.id}/files/content?path=/root/blob.bin`, d.url),
      {
        method: "PUT",
        headers: { authorization: `Bearer ${d.token}`, "content-type": "application/octet-stream" },
        body: Buffer.alloc(1024 * 1024, 0xab),
      },
    );
    assert.equal(put.status, 204);
    const got = await fetch(
      new URL(`/v1/sandboxes/${s.id}/files/content?path=/root/blob.bin`, d.url),
      { headers: { authorization: `Bearer ${d.token}` } },
    );
    assert.deepEqual(Buffer.from(await got.arrayBuffer()), Buffer.alloc(1024 * 1024, 0xab));

    // Hostile code plants links to host paths; the daemon follows them inside the sandbox only.
    await sh(
      s.id,
      `ln -s /etc/hostname /root/link; ln -s ${d.dataDir}/admin.token /root/token; ln -s / /root/up`,
    );
    const viaLink = await fetch(
      new URL(`/v1/sandboxes/${s.id}/files/content?path=/root/link`, d.url),
      { headers: { authorization: `Bearer ${d.token}` } },
    );
    assert.equal((await viaLink.text()).trim(), (await sh(s.id, "cat /etc/hostname")).out.trim());
    const token = await d.api<{ code: string; errno: string }>(
      "GET",
      `/v1/sandboxes/${s.id}/files/stat?path=/root/token`,
    );
    assert.equal(token.status, 404);
    assert.equal(token.body.code, "file_not_found");
    assert.equal(token.body.errno, "ENOENT");
    const dotdot = await d.api<{ code: string }>(
      "GET",
      `/v1/sandboxes/${s.id}/files/stat?path=/root/up/../../../../${d.dataDir}/admin.token`,
    );
    assert.equal(dotdot.status, 404);

    assert.equal(
      (
        await d.api("POST", `/v1/sandboxes/${s.id}/files/mkdir`, {
          path: "/srv/a/b",
          recursive: true,
        })
      ).status,
      204,
    );
    assert.equal(
      (
        await d.api("POST", `/v1/sandboxes/${s.id}/files/rename`, {
          from: "/root/blob.bin",
          to: "/srv/a/b/blob.bin",
        })
      ).status,
      204,
    );
    assert.equal(
      (
        await d.api("POST", `/v1/sandboxes/${s.id}/files/chmod`, {
          path: "/srv/a/b/blob.bin",
          mode: 0o600,
        })
      ).status,
      204,
    );
    const st = await d.api<{ type: string; size: number; mode: number }>(
      "GET",
      `/v1/sandboxes/${s.id}/files/stat?path=/srv/a/b/blob.bin`,
    );
    assert.equal(st.body.type, "file");
    assert.equal(st.body.size, 1024 * 1024);
    assert.equal(st.body.mode & 0o777, 0o600);
    const list = await d.api<{ name: string; type: string }[]>(
      "GET",
      `/v1/sandboxes/${s.id}/files/list?path=/srv/a`,
    );
    assert.deepEqual(list.body, [{ name: "b", type: "directory" }]);
    const notDir = await d.api<{ code: string; errno: string }>(
      "GET",
      `/v1/sandboxes/${s.id}/files/list?path=/srv/a/b/blob.bin`,
    );
    assert.equal(notDir.body.errno, "ENOTDIR");
    assert.equal(
      (await d.api("DELETE", `/v1/sandboxes/${s.id}/files?path=/srv/a&recursive=true`)).status,
      204,
    );
    assert.equal((await d.api("GET", `/v1/sandboxes/${s.id}/files/stat?path=/srv/a`)).status, 404);
    await kill(s.id);
  });

  test("a volume root persists and is single-attach; a snapshot root is an ephemeral copy for any number of sandboxes", async () => {
    const v = (
      await d.api<Volume>("POST", "/v1/volumes", {
        slug: "sbx-root",
        region: "local",
        capacity: "2GB",
        from: "builtin:debian-13",
      })
    ).body;
    await waitFor("the volume", async () =>
      (await d.api<Volume>("GET", `/v1/volumes/${v.id}`)).body.status === "ready"
        ? true
        : undefined,
    );
    const a = await create({ root: "sbx-root" });
    await sh(a.id, "echo kept > /root/state");
    const second = await d.api<{ code: string }>("POST", "/v1/sandboxes", { root: "sbx-root" });
    assert.equal(second.status, 409);
    assert.equal(second.body.code, "volume_in_use");
    assert.equal((await d.api<Volume>("GET", "/v1/volumes/sbx-root")).body.attachedTo, a.id);
    await kill(a.id);
    assert.equal((await d.api<Volume>("GET", "/v1/volumes/sbx-root")).body.attachedTo, null);
    const b = await create({ root: v.id });
    assert.equal((await sh(b.id, "cat /root/state")).out, "kept\n");
    await kill(b.id);

    await d.api("POST", `/v1/volumes/${v.id}/snapshots`, { slug: "sbx-root-snap" });
    const [x, y] = await Promise.all([
      create({ root: "sbx-root-snap" }),
      create({ root: "sbx-root-snap" }),
    ]);
    await sh(x.id, "echo only-x > /root/state");
    assert.equal((await sh(y.id, "cat /root/state")).out, "kept\n");
    await Promise.all([kill(x.id), kill(y.id)]);
    const z = await create({ root: "sbx-root-snap" });
    assert.equal(
      (await sh(z.id, "cat /root/state")).out,
      "kept\n",
      "writes to a snapshot root vanish with the sandbox",
    );
    await kill(z.id);
  });

  test("a volume mounted at a path keeps data across sandboxes", async () => {
    const v = (
      await d.api<Volume>("POST", "/v1/volumes", {
        slug: "dataset",
        region: "local",
        capacity: "1GB",
      })
    ).body;
    const a = await create({ volumes: { "/data/dataset": "dataset" } });
    await sh(a.id, "echo 42 > /data/dataset/answer");
    await kill(a.id);
    const b = await create({ volumes: { "/data/dataset": v.id } });
    assert.equal((await sh(b.id, "cat /data/dataset/answer")).out, "42\n");
    await kill(b.id);
  });

  test("limits hold: a fork bomb hits pids, a memory hog is OOM-killed, a disk filler hits the root's capacity", async () => {
    const bomb = await create();
    const bystander = await create();
    const r = await sh(bomb.id, "for i in $(seq 1 3000); do sleep 5 & done; echo unreachable");
    assert.notEqual(r.exitCode, 0, "the shell could not fork 3000 times");
    assert.doesNotMatch(r.out, /unreachable/);
    assert.match(r.err, /fork|Resource temporarily unavailable/i);
    assert.equal(
      (await sh(bystander.id, "echo fine")).out,
      "fine\n",
      "another sandbox keeps working",
    );
    assert.equal((await d.api("GET", "/v1/health")).status, 200);

    const small = await create({ memory: "128MiB" });
    const hog = await sh(small.id, "perl -e '$x = q(a) x (400 * 1024 * 1024); print length $x'");
    // sh reports its child's SIGKILL as status 137.
    assert.ok(
      hog.signal === "SIGKILL" || hog.exitCode === 137,
      `the memory hog was OOM-killed: ${hog.exitCode} ${hog.signal}`,
    );
    assert.equal(
      (await sh(small.id, "echo survived")).out,
      "survived\n",
      "the sandbox's init survived it",
    );

    const fill = await sh(
      bystander.id,
      "dd if=/dev/zero of=/root/fill bs=1M count=3000 2>&1; echo rc=$?",
    );
    assert.match(fill.out, /Disk quota exceeded/);
    assert.equal((await sh(bystander.id, "rm /root/fill; echo ok")).out, "ok\n");
    await Promise.all([kill(bomb.id), kill(bystander.id), kill(small.id)]);
  });

  test("sandbox code cannot make btrfs subvolumes or snapshots, whose writes would escape its capacities", async () => {
    // A subvolume has its own qgroup: what is written into one made inside a root or a
    // volume is not counted against their capacity. The static btrfs helper is a ready-made
    // way to issue the ioctls from inside (EPERM is errno 1).
    const volume = (
      await d.api<Volume>("POST", "/v1/volumes", {
        slug: "nested-subvolumes",
        region: "local",
        capacity: "300MB",
      })
    ).body;
    const sbx = await create({ volumes: { "/data": volume.slug } });
    const helper = join(d.poolRoot, "writable", sbx.id, "usr/local/bin/btrfs-ioctl");
    await copyFile(BTRFS_HELPER, helper);
    await chmod(helper, 0o755);
    const ioctls = [
      "1\tsubvol\t/root/nested",
      "2\tsubvol\t/data/nested",
      "3\tsnap\t/\t/root/copy\t0",
      "4\tsnap\t/data\t/data/copy\t1",
      "5\tdestroy\t/data",
    ];
    const r = await sh(sbx.id, `printf '${ioctls.join("\\n")}\\n' | btrfs-ioctl`);
    const answers = r.out.trim().split("\n").sort();
    assert.equal(answers.length, ioctls.length, r.out + r.err);
    for (const a of answers) assert.match(a, /^\d\terr\t1\t/, a);
    assert.equal((await sh(sbx.id, "ls /root /data")).out.includes("nested"), false);
    await kill(sbx.id);
    assert.equal((await d.api("DELETE", `/v1/volumes/${volume.id}`)).status, 204);
  });

  test("the network: egress is NATed, but the host, other sandboxes and link-local are unreachable; ports are proxied", async () => {
    const host = createServer((c) => c.end("host secret\n"));
    await new Promise<void>((r) => host.listen(0, "0.0.0.0", r));
    const hostPort = (host.address() as { port: number }).port;
    const hostIp = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && i.family === "IPv4" && !i.internal)?.address;
    try {
      const web = await create({ port: 8000 });
      const other = await create();
      const upload = await fetch(
        new URL(`/v1/sandboxes/${web.id}/files/content?path=/root/server.pl`, d.url),
        {
          method: "PUT",
          headers: {
            authorization: `Bearer ${d.token}`,
            "content-type": "application/octet-stream",
          },
          body: PERL_HTTP,
        },
      );
      assert.equal(upload.status, 204);
      await sh(web.id, "setsid perl /root/server.pl 8000 > /dev/null 2>&1 < /dev/null &");
      const webIp = (await sh(web.id, "hostname -I")).out.trim();
      const probe = async (id: string, ip: string, port: number) =>
        (
          await sh(
            id,
            `timeout 3 bash -c 'echo > /dev/tcp/${ip}/${port}' 2>/dev/null && echo open || echo closed`,
          )
        ).out.trim();
      assert.ok(hostIp, "the host has an IPv4 address");
      assert.equal(await probe(other.id, hostIp!, hostPort), "closed", "the host's address");
      const daemonPort = new URL(d.url).port;
      const gateway = (
        await sh(
          other.id,
          `perl -ne '@f = split; print join(".", unpack("C4", pack("V", hex $f[2]))) if $f[1] eq "00000000"' /proc/net/route`,
        )
      ).out.trim();
      assert.match(gateway, /^\d+\.\d+\.\d+\.\d+$/);
      assert.equal(
        await probe(other.id, gateway, Number(daemonPort)),
        "closed",
        "the bridge gateway (the host)",
      );
      assert.equal(await probe(other.id, webIp, 8000), "closed", "another sandbox");
      assert.equal(await probe(other.id, "169.254.169.254", 80), "closed", "link-local");
      // Egress through NAT with the host's resolvers: Debian's mirror is one of the two places sandboxes may reach.
      const apt = await sh(other.id, "apt-get update -qq 2>&1; echo rc=$?");
      assert.match(apt.out, /rc=0/, apt.out);

      assert.ok(web.url, "the sandbox has a URL");
      const url = new URL(web.url!);
      // fetch() may not set Host, so ask the proxy with node:http, as a browser resolving *.localhost would.
      const viaProxy = await waitFor(
        "the server in the sandbox",
        () =>
          new Promise<string | undefined>((resolve) => {
            const req = request(
              { host: "127.0.0.1", port: url.port, path: "/", headers: { host: url.host } },
              (res) => {
                let body = "";
                res.on("data", (c: Buffer) => (body += c));
                res.on("end", () => resolve(res.statusCode === 200 ? body : undefined));
              },
            );
            req.on("error", () => resolve(undefined));
            req.end();
          }),
        15_000,
      );
      assert.match(viaProxy, /^hello from /);
      const ws = await upgradeThroughProxy(Number(url.port), url.host, "ping-through-the-proxy");
      assert.match(ws.status, /^HTTP\/1\.1 101/, "upgrades pass through");
      // fetch() cannot set Host; the proxy also routes on x-strata-sandbox.
      const byHeader = await fetch(`http://127.0.0.1:${url.port}/`, {
        headers: { "x-strata-sandbox": url.hostname.split(".")[0]! },
      });
      assert.match(await byHeader.text(), /^hello from /);
      assert.equal(ws.echo, "ping-through-the-proxy");
      // A port exposed later gets its own URL; the old one stops answering.
      const exposed = await d.api<Sandbox>("POST", `/v1/sandboxes/${web.id}/expose`, {
        port: 9000,
      });
      assert.equal(exposed.status, 200);
      assert.match(exposed.body.url ?? "", /-9000\./);
      await Promise.all([kill(web.id), kill(other.id)]);
    } finally {
      host.close();
    }
  });

  test("timeouts end sandboxes by themselves, and PATCH extends them", async () => {
    const s = await create({ timeout: "2s", labels: { suite: "timeouts" } });
    const t = await create({ timeout: "2s", labels: { suite: "timeouts" } });
    const extended = await d.api<Sandbox>("PATCH", `/v1/sandboxes/${t.id}`, { timeout: "10m" });
    assert.equal(extended.status, 200);
    const stopped = await waitFor(
      "the timeout",
      async () => {
        const r = await d.api<Sandbox>("GET", `/v1/sandboxes/${s.id}`);
        return r.body.status === "stopped" ? r.body : undefined;
      },
      20_000,
    );
    assert.equal(stopped.stopReason, "timeout");
    assert.equal((await d.api<Sandbox>("GET", `/v1/sandboxes/${t.id}`)).body.status, "ready");
    const listed = await d.api<Sandbox[]>("GET", "/v1/sandboxes?label=suite=timeouts&status=ready");
    assert.deepEqual(
      listed.body.map((x) => x.id),
      [t.id],
    );
    await kill(t.id);
  });

  test("bad input gets a 4xx with a stable code and starts nothing", async () => {
    await d.api("POST", "/v1/volumes", { slug: "plain", region: "local", capacity: "1GB" });
    const cases: [Record<string, unknown>, number, string][] = [
      [{ root: "no-such-thing" }, 404, "volume_not_found"],
      [{ root: "plain" }, 409, "root_not_bootable"],
      [{ volumes: { "relative/path": "plain" } }, 400, "invalid_mount_path"],
      [{ volumes: { "/proc/x": "plain" } }, 400, "invalid_mount_path"],
      [{ volumes: { "/data": "missing-volume" } }, 404, "volume_not_found"],
      [{ timeout: "soon" }, 400, "invalid_timeout"],
      [{ memory: "1KiB" }, 400, "invalid_limits"],
      [{ cpus: 1000 }, 400, "invalid_limits"],
      [{ port: 70000 }, 400, "invalid_port"],
      [{ region: "mars" }, 400, "invalid_region"],
      [{ runtime: "docker" }, 400, "invalid_request"],
      [{ labels: { "bad key!": "x" } }, 400, "invalid_labels"],
      [{ allowNet: ["not a host!"] }, 400, "invalid_allow_net"],
    ];
    const before = (await d.api<Sandbox[]>("GET", "/v1/sandboxes?limit=200")).body.length;
    for (const [body, status, code] of cases) {
      const r = await d.api<{ code: string }>("POST", "/v1/sandboxes", body);
      assert.equal(r.status, status, JSON.stringify(body));
      assert.equal(r.body.code, code, JSON.stringify(body));
    }
    assert.equal((await d.api<Sandbox[]>("GET", "/v1/sandboxes?limit=200")).body.length, before);
    assert.equal((await d.api<Volume>("GET", "/v1/volumes/plain")).body.attachedTo, null);
  });

  test("after a crash the restarted daemon ends what was running; a clean stop leaves no host state behind", async () => {
    const s = await create();
    const v = (
      await d.api<Volume>("POST", "/v1/volumes", {
        slug: "crash-vol",
        region: "local",
        capacity: "1GB",
      })
    ).body;
    const withVolume = await create({ volumes: { "/data": v.id } });
    await d.crash();
    await d.start();
    for (const id of [s.id, withVolume.id]) {
      const after = (await d.api<Sandbox>("GET", `/v1/sandboxes/${id}`)).body;
      assert.equal(after.status, "stopped");
      assert.equal(after.stopReason, "daemon_restarted");
      assert.equal(await exists(join(d.poolRoot, "writable", id)), false);
    }
    assert.equal(
      (await d.api<Volume>("GET", "/v1/volumes/crash-vol")).body.attachedTo,
      null,
      "the volume was released",
    );

    const running = await create();
    assert.equal(await d.stop(), 0);
    const prefix = derivePrefix(d.dataDir);
    assert.deepEqual(
      (await readdir("/run/netns")).filter((n) => n.startsWith(`${prefix}-`)),
      [],
      "no netns left",
    );
    const links = await readFile("/proc/net/dev", "utf8");
    assert.doesNotMatch(links, new RegExp(`^\\s*${prefix}`, "m"), "no bridge or veth left");
    for (const controller of ["memory", "pids", "cpu", "freezer"]) {
      assert.equal(
        await exists(`/sys/fs/cgroup/${controller}/${prefix}`),
        false,
        `no ${controller} cgroup left`,
      );
    }
    assert.equal(await exists(join(d.dataDir, "pool", "strata")), false, "the pool is unmounted");
    assert.ok(running.id);
    await d.start();
  });
});
