import { X509Certificate } from "node:crypto";
import { readFile, stat } from "node:fs/promises";

/** Pure: the PEM certificate blocks of a file's text, in order. */
export function pemCertificates(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
}

/**
 * Checks the host file of CA certificates that sandboxes are to trust (`--ca-file`) once,
 * at start: it must be readable by everyone (sandboxes read it as an unprivileged host
 * user) and hold only valid certificates, at least one. Returns
 * how many, or undefined when the file does not exist and `optional` (the default path
 * on a host without a system bundle). Throws an Error saying what is wrong otherwise.
 */
export async function checkHostCa(
  path: string,
  options: { optional: boolean },
): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" && options.optional) return undefined;
    throw new Error(
      `Cannot read the CA file ${JSON.stringify(path)} sandboxes are to trust (${code ?? err}); --ca-file '' turns this off`,
    );
  }
  if (((await stat(path)).mode & 0o004) === 0)
    throw new Error(
      `The CA file ${JSON.stringify(path)} sandboxes are to trust is not readable by everyone (chmod a+r): sandboxes read it as an unprivileged user`,
    );
  const pems = pemCertificates(text);
  if (pems.length === 0)
    throw new Error(
      `The CA file ${JSON.stringify(path)} sandboxes are to trust holds no PEM certificate; --ca-file '' turns this off`,
    );
  pems.forEach((pem, i) => {
    try {
      new X509Certificate(pem);
    } catch (err) {
      throw new Error(
        `Certificate ${i + 1} of the CA file ${JSON.stringify(path)} is not valid: ${(err as Error).message}`,
      );
    }
  });
  return pems.length;
}
