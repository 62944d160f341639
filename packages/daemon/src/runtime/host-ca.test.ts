import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { checkHostCa, pemCertificates } from "./host-ca.ts";

let dir: string;
let caPem: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "strata-host-ca-"));
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
    { stdio: "ignore" },
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

test("pemCertificates() finds every certificate block and skips everything else", () => {
  const text = `# comment\n${caPem}\nnoise\n${caPem}-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n`;
  assert.equal(pemCertificates(text).length, 2);
  assert.deepEqual(pemCertificates("nothing here"), []);
});

test("checkHostCa() counts the certificates of a valid file", async () => {
  assert.equal(
    await checkHostCa(await file("two.crt", `${caPem}${caPem}`), { optional: false }),
    2,
  );
});

test("checkHostCa() accepts a missing default bundle, but not a missing file it was given", async () => {
  const missing = join(dir, "missing.crt");
  assert.equal(await checkHostCa(missing, { optional: true }), undefined);
  await assert.rejects(
    checkHostCa(missing, { optional: false }),
    /missing\.crt.*ENOENT.*--ca-file ''/,
  );
});

test("checkHostCa() refuses a file with no certificate, a broken one, or one sandboxes cannot read", async () => {
  await assert.rejects(
    checkHostCa(await file("empty.crt", "# nothing\n"), { optional: true }),
    /holds no PEM certificate/,
  );
  const broken = caPem.replace(/\n[A-Za-z0-9+/]{10}/, "\n!!!!!!!!!!");
  await assert.rejects(
    checkHostCa(await file("broken.crt", `${caPem}${broken}`), { optional: false }),
    /Certificate 2 of the CA file .*broken\.crt.* is not valid/,
  );
  await assert.rejects(
    checkHostCa(await file("private.crt", caPem, 0o600), { optional: false }),
    /not readable by everyone/,
  );
});
