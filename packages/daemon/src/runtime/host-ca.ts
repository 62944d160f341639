import { X509Certificate } from "node:crypto";
import { chmod, mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { rootCertificates } from "node:tls";

/** Pure: the PEM certificate blocks of a file's text, in order. */
export function pemCertificates(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
}

/** Pure: what identifies a certificate, whatever its line wrapping: its base64, unwrapped. */
export function certificateKey(pem: string): string {
  return pem.replace(/-----(BEGIN|END) CERTIFICATE-----|\s/g, "");
}

/** Pure: the certificates of `pems` whose key is not in `known`, each once, in order. */
export function certificatesBeyond(pems: readonly string[], known: ReadonlySet<string>): string[] {
  const seen = new Set(known);
  return pems.filter((pem) => {
    const key = certificateKey(pem);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * Keys of the public roots every image brings already: Node's bundled copy of Mozilla's
 * list, and the host distribution's (`dir`: Debian's /usr/share/ca-certificates, from
 * which the host's bundle is made). What a host trusts beyond them is what its admin added
 * (a TLS-inspecting proxy's CA): that, not a second, older copy of the public roots, is
 * what sandboxes need from the host.
 */
export async function publicRoots(dir = "/usr/share/ca-certificates"): Promise<Set<string>> {
  const keys = new Set(rootCertificates.map(certificateKey));
  const files = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
  const texts = await Promise.all(
    files
      .filter((f) => f.endsWith(".crt"))
      .map((f) => readFile(join(dir, f), "utf8").catch(() => "")),
  );
  for (const pem of texts.flatMap(pemCertificates)) keys.add(certificateKey(pem));
  return keys;
}

/** What `prepareHostCa` found in the host's file. */
export interface HostCa {
  /** Certificates in the host's file. */
  certificates: number;
  /** Of them, those beyond the public roots, written to `target`; 0: nothing to add, no file. */
  added: number;
}

/**
 * Checks the host file of CA certificates that sandboxes are to trust (`--ca-file`), once,
 * at start: it must be readable by everyone (sandboxes read what it yields as an
 * unprivileged host user) and hold only valid certificates, at least one. Writes those
 * beyond `publicRoots` to `target` (mode 0644, replaced atomically), the file sandboxes
 * mount. Returns undefined when the file does not exist and `optional` (the default path
 * on a host without a system bundle); throws an Error saying what is wrong otherwise.
 */
export async function prepareHostCa(
  caFile: string,
  options: { optional: boolean; target: string; publicRoots: ReadonlySet<string> },
): Promise<HostCa | undefined> {
  const name = JSON.stringify(caFile);
  let text: string;
  try {
    text = await readFile(caFile, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" && options.optional) return undefined;
    throw new Error(
      `Cannot read the CA file ${name} sandboxes are to trust (${code ?? err}); --ca-file '' turns this off`,
    );
  }
  if (((await stat(caFile)).mode & 0o004) === 0)
    throw new Error(
      `The CA file ${name} sandboxes are to trust is not readable by everyone (chmod a+r): sandboxes read it as an unprivileged user`,
    );
  const pems = pemCertificates(text);
  if (pems.length === 0)
    throw new Error(
      `The CA file ${name} sandboxes are to trust holds no PEM certificate; --ca-file '' turns this off`,
    );
  pems.forEach((pem, i) => {
    try {
      new X509Certificate(pem);
    } catch (err) {
      throw new Error(
        `Certificate ${i + 1} of the CA file ${name} is not valid: ${(err as Error).message}`,
      );
    }
  });
  const added = certificatesBeyond(pems, options.publicRoots);
  if (added.length > 0) {
    await mkdir(dirname(options.target), { recursive: true });
    const tmp = `${options.target}.tmp`;
    await rm(tmp, { force: true });
    await writeFile(tmp, added.map((pem) => `${pem}\n`).join(""));
    await chmod(tmp, 0o644); // whatever the daemon's umask
    await rename(tmp, options.target);
  }
  return { certificates: pems.length, added: added.length };
}
