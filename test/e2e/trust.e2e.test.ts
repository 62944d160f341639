import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { ExecResult, Sandbox, Volume } from "@strata/api";
import { isRoot, TestDaemon, waitFor } from "./harness.ts";

/**
 * The base image's sudo, and sandboxes that trust what the host trusts (`--ca-file`),
 * proven offline: a test CA given to the daemon, a leaf it signed, verified inside with the
 * sandbox's default store. Sandboxes never reach the host, so no TLS server is involved.
 */
const b64 = (s: string) => Buffer.from(s).toString("base64");
const text = (s: string) => Buffer.from(s, "base64").toString();
const MINUTES = 60_000;

/** Makes a CA and a leaf it signed with the host's openssl, in `dir`, named `<name>-…`. */
function makeChain(dir: string, name: string): { ca: string; leaf: string } {
  const at = (f: string) => join(dir, `${name}-${f}`);
  // Its own config, so that the host's openssl.cnf (or its absence) does not matter.
  const config = at("openssl.cnf");
  writeFileSync(config, "[req]\ndistinguished_name = dn\n[dn]\n");
  const openssl = (...args: string[]) =>
    execFileSync("openssl", args, { stdio: "pipe", env: { ...process.env, OPENSSL_CONF: config } });
  const key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  openssl(
    "req",
    "-x509",
    ...key,
    "-keyout",
    at("ca.key"),
    "-out",
    at("ca.crt"),
    "-days",
    "2",
    "-subj",
    `/CN=Strata e2e ${name} CA`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  );
  openssl(
    "req",
    "-new",
    ...key,
    "-keyout",
    at("leaf.key"),
    "-out",
    at("leaf.csr"),
    "-subj",
    `/CN=${name}.example.com`,
  );
  openssl(
    "x509",
    "-req",
    "-in",
    at("leaf.csr"),
    "-CA",
    at("ca.crt"),
    "-CAkey",
    at("ca.key"),
    "-CAcreateserial",
    "-days",
    "1",
    "-out",
    at("leaf.crt"),
  );
  return { ca: at("ca.crt"), leaf: at("leaf.crt") };
}

describe("sandboxes trust what the host trusts", { skip: !isRoot && "needs root" }, () => {
  let dir: string;
  let trusted: { ca: string; leaf: string };
  let stranger: { ca: string; leaf: string };
  let d: TestDaemon;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "strata-e2e-ca-"));
    trusted = makeChain(dir, "trusted");
    stranger = makeChain(dir, "stranger");
    d = await TestDaemon.start(["--root-capacity", "2GB", "--ca-file", trusted.ca]);
  });
  after(async () => {
    await d?.[Symbol.asyncDispose]();
    await rm(dir, { recursive: true, force: true });
  });

  const create = async (body: Record<string, unknown> = {}) => {
    const r = await d.api<Sandbox>("POST", "/v1/sandboxes", body);
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body;
  };
  const sh = async (id: string, command: string, stdin?: string) => {
    const r = await d.api<ExecResult>("POST", `/v1/sandboxes/${id}/exec`, {
      command,
      ...(stdin === undefined ? {} : { stdin: b64(stdin) }),
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return { code: r.body.exitCode, out: text(r.body.stdout), err: text(r.body.stderr) };
  };
  const ok = async (id: string, command: string, stdin?: string) => {
    const r = await sh(id, command, stdin);
    assert.equal(r.code, 0, `${command}\n${r.out}${r.err}`);
    return r.out;
  };
  const kill = async (id: string) =>
    assert.equal((await d.api("DELETE", `/v1/sandboxes/${id}`)).status, 204);
  /** Copies the leaves into the sandbox's /tmp. */
  const leaves = async (id: string) => {
    await ok(id, "cat > /tmp/trusted.crt", await readFile(trusted.leaf, "utf8"));
    await ok(id, "cat > /tmp/stranger.crt", await readFile(stranger.leaf, "utf8"));
  };
  const bootableVolume = async (slug: string) => {
    const v = (
      await d.api<Volume>("POST", "/v1/volumes", {
        slug,
        region: "local",
        capacity: "2GB",
        from: "builtin:debian-13",
      })
    ).body;
    await waitFor(`volume ${slug}`, async () =>
      (await d.api<Volume>("GET", `/v1/volumes/${v.id}`)).body.status === "ready"
        ? true
        : undefined,
    );
    return v;
  };

  test("builtin:debian-13 has bash, ca-certificates and sudo, and root may use sudo, on a terminal too", {
    timeout: 5 * MINUTES,
  }, async () => {
    const s = await create();
    assert.equal(await ok(s.id, "sudo -n id -u"), "0\n");
    assert.equal(await ok(s.id, "sudo -n -u nobody id -un"), "nobody\n");
    // Debian's sudoers says use_pty: on a terminal, sudo runs the command on a new pty.
    assert.match(await ok(s.id, "script -qec 'sudo -n tty' /dev/null"), /\/dev\/pts\/\d+\r?\n$/);
    assert.match(await ok(s.id, "bash -c 'echo $BASH_VERSION'"), /^5\./);
    assert.match(await ok(s.id, "dpkg -s ca-certificates"), /^Status: install ok installed$/m);
    const nobody = await sh(
      s.id,
      "setpriv --reuid=65534 --regid=65534 --clear-groups sudo -n true",
    );
    assert.notEqual(nobody.code, 0, "a user without a sudoers entry gets nothing");
    await kill(s.id);
  });

  test("a sandbox trusts the daemon's --ca-file in its system store, in the variables and under sudo, and nothing else", {
    timeout: 5 * MINUTES,
  }, async () => {
    const s = await create();
    await leaves(s.id);
    const env = await ok(s.id, "env");
    assert.match(env, /^SSL_CERT_FILE=\/etc\/ssl\/certs\/ca-certificates\.crt$/m);
    assert.match(env, /^REQUESTS_CA_BUNDLE=\/etc\/ssl\/certs\/ca-certificates\.crt$/m);
    assert.match(env, /^NODE_EXTRA_CA_CERTS=\/\.strata\/ca-certificates\.crt$/m);
    assert.equal(await ok(s.id, 'cat "$NODE_EXTRA_CA_CERTS"'), await readFile(trusted.ca, "utf8"));

    assert.equal(await ok(s.id, "openssl verify /tmp/trusted.crt"), "/tmp/trusted.crt: OK\n");
    await ok(s.id, "openssl verify -CAfile /etc/ssl/certs/ca-certificates.crt /tmp/trusted.crt");
    // sudo resets the environment: the system store alone does it.
    await ok(s.id, "sudo -n openssl verify /tmp/trusted.crt");
    await ok(s.id, "env -i /usr/bin/openssl verify /tmp/trusted.crt");
    const strange = await sh(s.id, "openssl verify /tmp/stranger.crt");
    assert.notEqual(strange.code, 0, "a CA nobody gave the daemon is not trusted");
    assert.match(strange.out + strange.err, /unable to get local issuer certificate/);

    const bundleCerts = Number(
      await ok(s.id, "grep -c 'BEGIN CERTIFICATE' /etc/ssl/certs/ca-certificates.crt"),
    );
    assert.ok(bundleCerts > 100, `the image's own CAs stay (${bundleCerts} in the bundle)`);
    const hostFile = await readFile(trusted.ca, "utf8");
    const ro = await sh(s.id, "echo x >> /.strata/ca-certificates.crt");
    assert.notEqual(ro.code, 0);
    const mount = await ok(s.id, "grep ' /.strata/ca-certificates.crt ' /proc/self/mountinfo");
    assert.match(mount, / \/\.strata\/ca-certificates\.crt ro,/, "mounted read-only");
    assert.equal(await readFile(trusted.ca, "utf8"), hostFile, "the host's file is untouched");

    // Package installs rebuild the bundle; the host's CA stays in it.
    await ok(s.id, "sudo -n update-ca-certificates");
    await ok(s.id, "openssl verify /tmp/trusted.crt");
    assert.doesNotMatch(await ok(s.id, "cat /etc/ssl/certs/ca-certificates.crt"), /strata-agent/);
    assert.equal(await ok(s.id, "ls /etc/ssl/certs | grep -c '^strata-host-0.pem$'"), "1\n");
    const fresh = await sh(s.id, "sudo -n update-ca-certificates --fresh 2>&1");
    assert.equal(fresh.code, 0, fresh.out);
    // (Debian's rehash always warns about the bundle itself, never about the agent's files.)
    assert.doesNotMatch(fresh.out, /strata-host.*(warning|error)|(warning|error).*strata-host/i);
    assert.match(fresh.out, /^Updating certificates/m);
    await ok(s.id, "openssl verify /tmp/trusted.crt");
    await kill(s.id);
  });

  test("--ca-file '' gives sandboxes no host CA, and a root that had one loses it; a root without a store still boots", {
    timeout: 8 * MINUTES,
  }, async () => {
    await bootableVolume("ca-root");
    const a = await create({ root: "ca-root" });
    await leaves(a.id);
    await ok(a.id, "openssl verify /tmp/trusted.crt");
    await kill(a.id);

    await d.stop();
    await d.start(["--ca-file", ""]);
    const plain = await create();
    const pristine = await ok(plain.id, "sha256sum < /etc/ssl/certs/ca-certificates.crt");
    assert.doesNotMatch(
      await ok(plain.id, "env"),
      /SSL_CERT_FILE|NODE_EXTRA_CA_CERTS|REQUESTS_CA_BUNDLE/,
    );
    assert.equal(await ok(plain.id, "cat /.strata/ca-certificates.crt 2>/dev/null; true"), "");
    await kill(plain.id);

    const b = await create({ root: "ca-root" });
    const untrusted = await sh(b.id, "openssl verify /tmp/trusted.crt");
    assert.notEqual(untrusted.code, 0, "the CA an earlier start added is gone");
    assert.equal(
      await ok(b.id, "sha256sum < /etc/ssl/certs/ca-certificates.crt"),
      pristine,
      "the image's bundle, byte for byte",
    );
    assert.equal(await ok(b.id, "ls /usr/local/share/ca-certificates"), "");
    // An image without a trust store at all.
    await ok(b.id, "rm -rf /etc/ssl /usr/local/share/ca-certificates");
    await kill(b.id);

    await d.stop();
    await d.start(["--ca-file", trusted.ca]);
    const c = await create({ root: "ca-root" });
    assert.equal(
      await ok(c.id, "echo booted; ls /etc/ssl 2>&1; true"),
      "booted\nls: cannot access '/etc/ssl': No such file or directory\n",
    );
    await kill(c.id);
  });
});

/**
 * Through the real egress (a TLS-inspecting proxy on these machines, whose CA the host
 * trusts): npm in a sandbox, unchanged, with the daemon's default --ca-file. Reaches the
 * npm registry and Debian's mirror.
 */
const slow = !isRoot ? "needs root" : process.env.STRATA_FAST === "1" ? "STRATA_FAST=1" : false;
describe("[slow] npm over https in a sandbox", { skip: slow }, () => {
  test("npm view and npm install -g work unchanged, as root and with sudo", {
    timeout: 15 * MINUTES,
  }, async () => {
    await using d = await TestDaemon.start(["--root-capacity", "4GB"]);
    const s = (await d.api<Sandbox>("POST", "/v1/sandboxes", { timeout: "15m" })).body;
    const ok = async (command: string) => {
      const r = (await d.api<ExecResult>("POST", `/v1/sandboxes/${s.id}/exec`, { command })).body;
      assert.equal(r.exitCode, 0, `${command}\n${text(r.stdout)}${text(r.stderr)}`);
      return text(r.stdout);
    };
    await ok(
      "apt-get update -qq && apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null",
    );
    assert.match(await ok("npm view typescript version"), /^\d+\.\d+\.\d+\n$/);
    await ok("npm install -g typescript >/dev/null 2>&1 || npm install -g typescript");
    assert.match(await ok("tsc --version"), /^Version \d+\.\d+\.\d+\n$/);
    assert.match(await ok("sudo -n npm view typescript version"), /^\d+\.\d+\.\d+\n$/);
    await d.api("DELETE", `/v1/sandboxes/${s.id}`);
  });
});
