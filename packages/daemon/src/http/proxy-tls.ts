import { access, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createSecureContext, type SecureContext } from "node:tls";
import { run } from "../lib/exec.ts";

/**
 * TLS for the port proxy. Clients written for hosted sandboxes build `https://` URLs
 * (the official Deno client always does), so the proxy answers TLS too, on the same port.
 * The daemon keeps its own CA in `<dir>/proxy-ca.pem` (made on first start) and signs a
 * certificate per sandbox host name on first use: a wildcard such as `*.localhost` is
 * refused by TLS clients for a one-label domain. Trust the CA to verify sandbox URLs
 * (`NODE_EXTRA_CA_CERTS`, `curl --cacert`, or a browser's certificate store).
 */
export interface ProxyTls {
  /** The CA certificate (PEM) that signs every sandbox host's certificate. */
  readonly caFile: string;
  /** The TLS context for `servername`, or undefined when it is not a sandbox host name. */
  contextFor(servername: string): Promise<SecureContext | undefined>;
}

/** Certificates kept in memory (one per sandbox host name seen). */
const MAX_CACHED = 1024;

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/**
 * Loads (or makes, on first start) the proxy's CA and key in `dir`. `accepts` says whether
 * a TLS server name is one the proxy serves; others get no certificate.
 */
export async function proxyTls(
  dir: string,
  accepts: (servername: string) => boolean,
): Promise<ProxyTls> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const caFile = join(dir, "proxy-ca.pem");
  const caKey = join(dir, "proxy-ca.key");
  const leafKey = join(dir, "proxy-leaf.key");
  // openssl req needs a config file, and hosts do not always ship /usr/lib/ssl/openssl.cnf.
  const config = join(dir, "openssl.cnf");
  await writeFile(config, "[req]\ndistinguished_name = dn\n[dn]\n");
  if (!(await exists(caFile)) || !(await exists(caKey))) {
    await run([
      "openssl",
      "req",
      "-config",
      config,
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      caKey,
      "-out",
      caFile,
      "-days",
      "3650",
      "-subj",
      "/CN=Strata sandbox proxy CA",
      "-addext",
      "basicConstraints=critical,CA:TRUE,pathlen:0",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ]);
  }
  if (!(await exists(leafKey)))
    await run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", leafKey]);
  const key = await readFile(leafKey, "utf8");
  const cache = new Map<string, Promise<SecureContext>>();

  const sign = async (name: string): Promise<SecureContext> => {
    const { stdout } = await run([
      "openssl",
      "req",
      "-config",
      config,
      "-x509",
      "-CA",
      caFile,
      "-CAkey",
      caKey,
      "-key",
      leafKey,
      "-subj",
      `/CN=${name}`,
      "-addext",
      `subjectAltName=DNS:${name}`,
      "-addext",
      "extendedKeyUsage=serverAuth",
      "-days",
      "30",
    ]);
    return createSecureContext({ key, cert: stdout });
  };

  return {
    caFile,
    async contextFor(servername) {
      const name = servername.toLowerCase();
      if (!accepts(name)) return undefined;
      let ctx = cache.get(name);
      if (!ctx) {
        if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value as string);
        ctx = sign(name);
        cache.set(name, ctx);
        ctx.catch(() => cache.delete(name));
      }
      return ctx;
    },
  };
}
