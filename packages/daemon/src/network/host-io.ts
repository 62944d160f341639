/**
 * The network module's reads and small writes of host state, kept apart from the
 * manager's logic. Everything here that can avoid an exec does (netns, links and their
 * aliases come from /run/netns and /sys/class/net).
 */
import { lookup } from "node:dns/promises";
import { access, readdir, readFile, writeFile } from "node:fs/promises";
import { run } from "../lib/exec.ts";
import { SANDBOX_ID_RE, sandboxOfNetns, vethIndex } from "./addresses.ts";
import { type NftState, parseNftState } from "./host-state.ts";
import { parseResolvConf, type ResolvConf } from "./resolv-conf.ts";

export async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** A file's text, or `undefined` when it does not exist. */
export async function readOptional(path: string): Promise<string | undefined> {
  return readFile(path, "utf8").catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return undefined;
    throw err;
  });
}

/** The host's getaddrinfo, IPv4 answers only (sandboxes have no IPv6). */
export async function lookupIpv4(host: string): Promise<string[]> {
  return (await lookup(host, { all: true, family: 4 })).map((a) => a.address);
}

export function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Turns on IPv4 forwarding; returns whether it was off. */
export async function enableIpv4Forwarding(): Promise<boolean> {
  const path = "/proc/sys/net/ipv4/ip_forward";
  if ((await readFile(path, "utf8")).trim() === "1") return false;
  await writeFile(path, "1");
  return true;
}

/** The host's resolv.conf and, when present, systemd-resolved's list of upstreams. */
export async function readHostResolvConf(): Promise<{
  host: ResolvConf;
  systemd: ResolvConf | undefined;
}> {
  const [host, systemd] = await Promise.all([
    readOptional("/etc/resolv.conf"),
    readOptional("/run/systemd/resolve/resolv.conf"),
  ]);
  return {
    host: parseResolvConf(host ?? ""),
    systemd: systemd === undefined ? undefined : parseResolvConf(systemd),
  };
}

/** What exists on the host under a prefix. */
export interface PrefixState {
  /** Sandbox ids that have a netns. */
  netns: string[];
  /** Host veths by address index, with the sandbox id of their alias when it is valid. */
  veths: Map<number, string | undefined>;
  nft: NftState;
}

/** Lists a prefix's netns, host veths and nft state (two `nft -j` execs, in parallel). */
export async function observePrefix(prefix: string): Promise<PrefixState> {
  const netns = (await readdir("/run/netns").catch(() => []))
    .map((n) => sandboxOfNetns(prefix, n))
    .filter((id): id is string => id !== undefined);
  const veths = new Map<number, string | undefined>();
  for (const name of await readdir("/sys/class/net")) {
    const i = vethIndex(prefix, name);
    if (i === undefined) continue;
    const alias = ((await readOptional(`/sys/class/net/${name}/ifalias`)) ?? "").trim();
    veths.set(i, SANDBOX_ID_RE.test(alias) ? alias : undefined);
  }
  // A missing table is not an error here: there is simply no state.
  const list = (argv: string[]) =>
    run(argv).then(
      (r) => r.stdout,
      () => "",
    );
  const [inet, ports] = await Promise.all([
    list(["nft", "-j", "list", "table", "inet", prefix]),
    list(["nft", "-j", "list", "set", "bridge", prefix, "ports"]),
  ]);
  return { netns, veths, nft: parseNftState(inet, ports) };
}

/**
 * Resolves host names in parallel, each within `timeoutMs`; a name that fails is reported
 * to `onError` and left out.
 */
export async function resolveAll(
  hosts: readonly string[],
  options: {
    lookup: (host: string) => Promise<string[]>;
    timeoutMs: number;
    onError: (host: string, err: unknown) => void;
  },
): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  await Promise.all(
    hosts.map(async (host) => {
      try {
        out.set(host, await withTimeout(options.lookup(host), options.timeoutMs));
      } catch (err) {
        options.onError(host, err);
      }
    }),
  );
  return out;
}
