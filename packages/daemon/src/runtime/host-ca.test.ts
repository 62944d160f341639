import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { rootCertificates } from "node:tls";
import {
  certificateKey,
  certificatesBeyond,
  pemCertificates,
  prepareHostCa,
  publicRoots,
} from "./host-ca.ts";

let dir: string;
let caPem: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "strata-host-ca-"));
  // Its own config, so that the host's openssl.cnf (or its absence) does not matter.
  await writeFile(join(dir, "openssl.cnf"), "[req]\ndistinguished_name = dn\n[dn]\n");
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      join(dir, "ca.key"),
      "-out",
      join(dir, "ca.crt"),
      "-subj",
      "/CN=Strata test CA",
      "-days",
      "1",
    ],
    { stdio: "ignore", env: { ...process.env, OPENSSL_CONF: join(dir, "openssl.cnf") } },
  );
  caPem = await readFile(join(dir, "ca.crt"), "utf8");
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const file = async (name: string, text: string, mode = 0o644) => {
  const path = join(dir, name);
  await writeFile(path, text);
  await chmod(path, mode);
  return path;
};
const publicRoot = rootCertificates[0]!;
const known = new Set([certificateKey(publicRoot)]);
const prepare = (caFile: string, optional = false) =>
  prepareHostCa(caFile, { optional, target: join(dir, "out", "host-ca.crt"), publicRoots: known });

test("pemCertificates() finds every certificate block and skips everything else", () => {
  const text = `# comment\n${caPem}\nnoise\n${caPem}-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n`;
  assert.equal(pemCertificates(text).length, 2);
  assert.deepEqual(pemCertificates("nothing here"), []);
});

test("certificatesBeyond() keeps the certificates not known, once each, whatever their wrapping", () => {
  const rewrapped = caPem.replace(/\n/g, "\r\n");
  assert.deepEqual(certificatesBeyond([publicRoot, caPem, rewrapped, caPem], known), [caPem]);
  assert.deepEqual(certificatesBeyond([publicRoot], known), []);
});

test("publicRoots() holds Node's bundled roots and the distribution's CA files", async () => {
  const distro = join(dir, "distro");
  await mkdir(join(distro, "mozilla"), { recursive: true });
  await writeFile(join(distro, "mozilla", "Test_CA.crt"), caPem);
  await writeFile(join(distro, "mozilla", "README"), caPem.replace("CERTIFICATE", "X"));
  const roots = await publicRoots(distro);
  assert.ok(roots.has(certificateKey(publicRoot)));
  assert.ok(roots.has(certificateKey(caPem)));
  assert.equal(roots.size, new Set(rootCertificates.map(certificateKey)).size + 1);
  assert.equal((await publicRoots(join(dir, "none"))).size, roots.size - 1, "no distribution CAs");
});

test("prepareHostCa() writes the host's certificates beyond the public roots where sandboxes mount them", async () => {
  const result = await prepare(await file("host.crt", `${publicRoot}\n${caPem}\n`));
  assert.deepEqual(result, { certificates: 2, added: 1 });
  const out = join(dir, "out", "host-ca.crt");
  assert.equal(await readFile(out, "utf8"), `${pemCertificates(caPem)[0]}\n`);
  assert.equal((await stat(out)).mode & 0o777, 0o644, "sandboxes read it as an unprivileged user");
  assert.deepEqual(await prepare(await file("public.crt", publicRoot)), {
    certificates: 1,
    added: 0,
  });
});

test("prepareHostCa() accepts a missing default bundle, but not a missing file it was given", async () => {
  const missing = join(dir, "missing.crt");
  assert.equal(await prepare(missing, true), undefined);
  await assert.rejects(prepare(missing), /missing\.crt.*ENOENT.*--ca-file ''/);
});

test("prepareHostCa() refuses a file with no certificate, a broken one, or one sandboxes cannot read", async () => {
  await assert.rejects(
    prepare(await file("empty.crt", "# nothing\n"), true),
    /holds no PEM certificate/,
  );
  const broken = caPem.replace(/\n[A-Za-z0-9+/]{10}/, "\n!!!!!!!!!!");
  await assert.rejects(
    prepare(await file("broken.crt", `${caPem}${broken}`)),
    /Certificate 2 of the CA file .*broken\.crt.* is not valid/,
  );
  await assert.rejects(
    prepare(await file("private.crt", caPem, 0o600)),
    /not readable by everyone/,
  );
});
