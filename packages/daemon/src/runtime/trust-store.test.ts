/**
 * The agent's start-up step that adds the host's CA certificates to a sandbox's trust
 * store (packages/agent/src/trust.c), run rootless: the agent as a host process with
 * `--trust-root` pointing at a folder laid out like an image.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import { afterEach, beforeEach, test } from "node:test";
import { AgentClient } from "./agent/client.ts";
import { AGENT_PATH, buildAgent } from "./agent/test-agent.ts";

buildAgent();

const BUNDLE = "etc/ssl/certs/ca-certificates.crt";
const OWN = "usr/local/share/ca-certificates/strata";
const MARKER =
  "# strata-agent: the host's CA certificates (/usr/local/share/ca-certificates/strata)\n";

/** A PEM block with a recognisable body, wrapped at `width` columns like real ones. */
function pem(name: string, width = 64): string {
  const body = Buffer.from(`certificate ${name} `.repeat(8)).toString("base64");
  const lines = body.match(new RegExp(`.{1,${width}}`, "g")) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join("\n")}\n-----END CERTIFICATE-----`;
}
const [A, B, C, D] = ["a", "b", "c", "d"].map((n) => pem(n)) as [string, string, string, string];
const IMAGE_BUNDLE = `${A}\n${B}\n`;

let root: string;
let hostCa: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "strata-trust-"));
  hostCa = join(root, "host-ca.crt");
  await mkdir(join(root, "etc/ssl/certs"), { recursive: true });
  await mkdir(join(root, "usr/local/share/ca-certificates"), { recursive: true });
  await writeFile(join(root, BUNDLE), IMAGE_BUNDLE);
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Starts the agent on the trust store under `root`, waits for READY, and ends it. */
async function startAgent(hostCaArg: string): Promise<void> {
  const child = spawn(AGENT_PATH, [`--host-ca=${hostCaArg}`, `--trust-root=${root}`], {
    stdio: ["ignore", "inherit", "inherit", "pipe"],
  });
  const exited = once(child, "exit");
  const client = await AgentClient.connect(child.stdio[3] as Duplex, { readyTimeoutMs: 5000 });
  await client.close();
  const [code] = await exited;
  assert.equal(code, 0);
}

const bundle = () => readFile(join(root, BUNDLE), "utf8");
const own = async () => {
  const names = (await readdir(join(root, OWN)).catch(() => [])).sort();
  return Promise.all(names.map(async (n) => [n, await readFile(join(root, OWN, n), "utf8")]));
};

test("the agent appends the host's certificates to a new clone's bundle, and keeps them for update-ca-certificates", async () => {
  await writeFile(hostCa, `${C}\n${D}\n${C}\n`);
  await startAgent(hostCa);
  assert.equal(await bundle(), `${IMAGE_BUNDLE}${MARKER}${C}\n${D}\n`);
  assert.deepEqual(await own(), [
    ["strata-host-0.crt", `${C}\n`],
    ["strata-host-1.crt", `${D}\n`],
  ]);
  assert.equal((await stat(join(root, BUNDLE))).mode & 0o777, 0o644);

  const before = await stat(join(root, BUNDLE));
  await startAgent(hostCa);
  const after = await stat(join(root, BUNDLE));
  assert.equal(await bundle(), `${IMAGE_BUNDLE}${MARKER}${C}\n${D}\n`, "the same on every start");
  assert.equal(after.ino, before.ino, "an up-to-date bundle is not rewritten");
  assert.equal(after.mtimeMs, before.mtimeMs);
});

test("once a store was completed, a host certificate the image has already is not added twice, whatever its line wrapping", async () => {
  await writeFile(hostCa, `${C}\n`);
  await startAgent(hostCa);
  await writeFile(hostCa, `${pem("a", 76).replaceAll("\n", "\r\n")}\n${C}\n${D}\n`);
  await startAgent(hostCa);
  assert.equal(await bundle(), `${IMAGE_BUNDLE}${MARKER}${C}\n${D}\n`);
  assert.deepEqual(
    (await own()).map(([name]) => name),
    ["strata-host-0.crt", "strata-host-1.crt"],
  );
});

test("after update-ca-certificates rebuilt the bundle with the agent's files, a start adds nothing twice", async () => {
  await writeFile(hostCa, `${C}\n${D}\n`);
  await startAgent(hostCa);
  // What update-ca-certificates writes: the image's certificates, then the local files'.
  const rebuilt = `${A}\n${B}\n${C}\n${D}\n`;
  await writeFile(join(root, BUNDLE), rebuilt);
  await startAgent(hostCa);
  assert.equal(await bundle(), rebuilt);
  assert.equal((await own()).length, 2, "the local files stay: the next rebuild needs them");
});

test("the agent follows the host's file: certificates it no longer has are taken out", async () => {
  await writeFile(hostCa, `${C}\n${D}\n`);
  await startAgent(hostCa);
  await writeFile(hostCa, `${D}\n`);
  await startAgent(hostCa);
  assert.equal(await bundle(), `${IMAGE_BUNDLE}${MARKER}${D}\n`);
  assert.deepEqual(await own(), [["strata-host-0.crt", `${D}\n`]]);
});

test("started without a host CA file, the agent restores the image's bundle byte for byte", async () => {
  await writeFile(hostCa, `${C}\n`);
  await startAgent(hostCa);
  await startAgent("");
  assert.equal(await bundle(), IMAGE_BUNDLE);
  assert.deepEqual(
    await readdir(join(root, "usr/local/share/ca-certificates")),
    [],
    "its folder is gone",
  );
  await startAgent("");
  assert.equal(await bundle(), IMAGE_BUNDLE, "nothing to do the next time");
});

test("the agent leaves the store alone when it cannot read the host's file", async () => {
  await writeFile(hostCa, `${C}\n`);
  await startAgent(hostCa);
  const installed = await bundle();
  await startAgent(join(root, "missing.crt"));
  assert.equal(await bundle(), installed, "trust is not taken away by accident");
  assert.equal((await own()).length, 1);
});

test("a bundle without a final newline gets one before the marker", async () => {
  await writeFile(join(root, BUNDLE), `${A}`);
  await writeFile(hostCa, `${C}\n`);
  await startAgent(hostCa);
  assert.equal(await bundle(), `${A}\n${MARKER}${C}\n`);
  await startAgent("");
  assert.equal(await bundle(), `${A}\n`, "the marker block goes, the newline stays");
});

test("an image without a trust store boots and gets none; one with an empty certs folder gets a bundle", async () => {
  await rm(join(root, "etc/ssl"), { recursive: true });
  await rm(join(root, "usr/local/share/ca-certificates"), { recursive: true });
  await writeFile(hostCa, `${C}\n`);
  await startAgent(hostCa);
  assert.deepEqual(await readdir(join(root, "etc")), [], "no /etc/ssl made");
  assert.deepEqual(await readdir(join(root, "usr/local/share")), []);

  await mkdir(join(root, "etc/ssl/certs"), { recursive: true });
  await startAgent(hostCa);
  assert.equal(await bundle(), `${MARKER}${C}\n`);
  assert.deepEqual(await own(), [], "no local folder without ca-certificates' own");
  await startAgent("");
  assert.deepEqual(await readdir(join(root, "etc/ssl/certs")), [], "the bundle it made is gone");
});

test("a FIFO planted as the bundle does not block the agent's start", async () => {
  await rm(join(root, BUNDLE));
  execFileSync("mkfifo", [join(root, BUNDLE)]);
  await writeFile(hostCa, `${C}\n`);
  await startAgent(hostCa);
  assert.ok((await stat(join(root, BUNDLE))).isFIFO());
});
