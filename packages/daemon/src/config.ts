import { createHash } from "node:crypto";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { parseDuration, parseSize } from "@strata/api";
import { hostDebianMirror } from "./host/apt-sources.ts";

/** Everything stratad is configured with; see `stratad --help`. */
export interface Config {
  dataDir: string;
  listen: { host: string; port: number };
  region: string;
  pool: string | undefined;
  poolSizeBytes: number;
  /** Names this daemon's host resources (pool folder, later bridges, nft tables, cgroups). */
  prefix: string;
  logLevel: string;
  capacity: { minBytes: number; maxBytes: number };
  purgeGraceMs: number;
  purgeIntervalMs: number;
  /** From the flag, or else the host's apt sources; empty for `doctor` and `help`, which build nothing. */
  debianMirror: string;
  /** Default: the API's host and port + 10 (port 0 when the API's is 0). */
  proxy: { host: string; port: number; baseDomain: string };
  /** Subnet of the sandbox bridge; undefined: derived from the prefix. */
  subnet: string | undefined;
  /** Capacity of an ephemeral sandbox root (from a snapshot or the base image). */
  rootCapacityBytes: number;
  /** Retention of snapshots for organisations that set none: a duration or "never". */
  snapshotRetention: string;
  /** How often the reaper deletes expired snapshots. */
  reaperIntervalMs: number;
  /** Host file of CA certificates every sandbox trusts on top of its image's; undefined: none. */
  caFile: string | undefined;
}

/** The host's system bundle: sandboxes trust what the host trusts unless told otherwise. */
export const DEFAULT_CA_FILE = "/etc/ssl/certs/ca-certificates.crt";

/** One option: its flag, environment variable, default, and help text. */
const OPTIONS = {
  "data-dir": {
    env: "STRATA_DATA_DIR",
    default: "/var/lib/strata",
    help: "State, pool image and admin token",
  },
  listen: {
    env: "STRATA_LISTEN",
    default: "127.0.0.1:7070",
    help: "HOST:PORT of the API (port 0 picks a free one)",
  },
  region: { env: "STRATA_REGION", default: "local", help: "Region this daemon serves" },
  pool: {
    env: "STRATA_POOL",
    default: "",
    help: "Existing btrfs mount to use as the pool (default: an image file in the data dir)",
  },
  "pool-size": {
    env: "STRATA_POOL_SIZE",
    default: "64GiB",
    help: "Size of the sparse pool image file",
  },
  prefix: {
    env: "STRATA_PREFIX",
    default: "",
    help: "Name prefix of this daemon's host resources (default: derived from the data dir)",
  },
  "log-level": {
    env: "STRATA_LOG_LEVEL",
    default: "info",
    help: "trace, debug, info, warn, error",
  },
  "min-capacity": {
    env: "STRATA_MIN_CAPACITY",
    default: "300MB",
    help: "Smallest volume capacity accepted",
  },
  "max-capacity": {
    env: "STRATA_MAX_CAPACITY",
    default: "20GB",
    help: "Largest volume capacity accepted",
  },
  "purge-grace": {
    env: "STRATA_PURGE_GRACE",
    default: "24h",
    help: "How long a deleted volume's data is kept",
  },
  "purge-interval": {
    env: "STRATA_PURGE_INTERVAL",
    default: "10m",
    help: "How often expired data is purged",
  },
  "debian-mirror": {
    env: "STRATA_DEBIAN_MIRROR",
    default: "",
    help: "Mirror builtin:debian-13 is built from (default: the first Debian archive in the host's apt sources)",
  },
  "proxy-listen": {
    env: "STRATA_PROXY_LISTEN",
    default: "",
    help: "HOST:PORT of the reverse proxy to sandbox ports (default: the --listen host, its port + 10)",
  },
  "base-domain": {
    env: "STRATA_BASE_DOMAIN",
    default: "localhost",
    help: "Sandbox URLs are http://<id>-<port>.<base-domain>:<proxy port>/",
  },
  subnet: {
    env: "STRATA_SUBNET",
    default: "",
    help: "IPv4 subnet of the sandbox bridge (default: derived from the prefix)",
  },
  "root-capacity": {
    env: "STRATA_ROOT_CAPACITY",
    default: "10GB",
    help: "Capacity of a sandbox's ephemeral root filesystem",
  },
  "snapshot-retention": {
    env: "STRATA_SNAPSHOT_RETENTION",
    default: "never",
    help: 'Default expiry of new snapshots ("30d", "12h", … or "never"); organisations can set their own',
  },
  "reaper-interval": {
    env: "STRATA_REAPER_INTERVAL",
    default: "1h",
    help: "How often expired snapshots are deleted",
  },
  "ca-file": {
    env: "STRATA_CA_FILE",
    default: DEFAULT_CA_FILE,
    help: "CA certificates (PEM) sandboxes trust, those beyond the public roots; '' for none",
  },
} as const;
type OptionName = keyof typeof OPTIONS;

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Help text for `stratad --help`. */
export function usage(): string {
  const lines = Object.entries(OPTIONS).map(
    ([flag, o]) =>
      `  --${flag.padEnd(16)} ${o.help}\n  ${" ".repeat(18)} env ${o.env}${o.default ? `, default ${o.default}` : ""}`,
  );
  return `Usage: stratad [doctor] [options]\n\n  doctor             Check the host and exit\n\nOptions:\n${lines.join("\n")}\n  --help             Show this help\n`;
}

/** What the defaults of some options are read from; tests pass fixtures. */
export interface HostDefaults {
  /** The host's Debian mirror, read only when `run` needs one and no flag names it. */
  debianMirror(): string | undefined;
}

const HOST: HostDefaults = { debianMirror: () => hostDebianMirror() };

/**
 * The mirror stratad builds from when no `--debian-mirror` is given: `STRATA_DEBIAN_MIRROR`,
 * else the host's apt sources. The bench builds its podman image from the same one.
 */
export function defaultDebianMirror(
  env: NodeJS.ProcessEnv,
  host: HostDefaults = HOST,
): string | undefined {
  return env[OPTIONS["debian-mirror"].env] || host.debianMirror();
}

/**
 * Resolves the configuration: flags first, then `STRATA_*` variables, then defaults (some
 * read from the host through `host`).
 */
export function resolveConfig(
  argv: string[],
  env: NodeJS.ProcessEnv,
  host: HostDefaults = HOST,
): { config: Config; command: "run" | "doctor" | "help" } {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      ...Object.fromEntries(Object.keys(OPTIONS).map((k) => [k, { type: "string" as const }])),
      help: { type: "boolean" },
    },
  });
  const get = (name: OptionName): string => {
    const v = (values as Record<string, unknown>)[name];
    return (
      (typeof v === "string" ? v : undefined) ?? env[OPTIONS[name].env] ?? OPTIONS[name].default
    );
  };
  const command = values.help ? "help" : positionals[0] === "doctor" ? "doctor" : "run";
  if (positionals.length > 1 || (positionals[0] !== undefined && positionals[0] !== "doctor")) {
    throw new ConfigError(
      `Unknown command ${JSON.stringify(positionals.join(" "))}: the only command is "doctor"`,
    );
  }

  const dataDir = resolve(get("data-dir"));
  const hostPort = (name: OptionName) => {
    const hp = /^(.+):(\d{1,5})$/.exec(get(name));
    if (!hp || Number(hp[2]) > 65535) {
      throw new ConfigError(`Invalid --${name} ${JSON.stringify(get(name))}: expected HOST:PORT`);
    }
    return { host: hp[1]!.replace(/^\[(.*)\]$/, "$1"), port: Number(hp[2]) };
  };
  const size = (name: OptionName): number => {
    const v = parseSize(get(name));
    if (v === undefined)
      throw new ConfigError(
        `Invalid --${name} ${JSON.stringify(get(name))}: expected a size such as 20GB`,
      );
    return v;
  };
  const duration = (name: OptionName): number => {
    const v = parseDuration(get(name));
    if (v === undefined)
      throw new ConfigError(
        `Invalid --${name} ${JSON.stringify(get(name))}: expected a duration such as 24h or 30s`,
      );
    return v;
  };
  const prefix = get("prefix") || derivePrefix(dataDir);
  if (!/^[a-z][a-z0-9]{1,7}$/.test(prefix)) {
    throw new ConfigError(
      `Invalid --prefix ${JSON.stringify(prefix)}: 2–8 lowercase letters and digits, starting with a letter`,
    );
  }
  const region = get("region");
  if (!/^[a-z0-9-]{1,32}$/.test(region))
    throw new ConfigError(`Invalid --region ${JSON.stringify(region)}: 1–32 of [a-z0-9-]`);
  const listen = hostPort("listen");
  const mirrorFlag = (values as Record<string, unknown>)["debian-mirror"];
  const debianMirror =
    (typeof mirrorFlag === "string" && mirrorFlag) ||
    (command === "run" ? defaultDebianMirror(env, host) : undefined) ||
    "";
  if (command === "run" && !debianMirror)
    throw new ConfigError(
      "No Debian mirror to build builtin:debian-13 from: the host's apt sources (/etc/apt/sources.list.d/*.sources, /etc/apt/sources.list) name no enabled Debian archive. Pass --debian-mirror URL (or set STRATA_DEBIAN_MIRROR)",
    );
  const config: Config = {
    dataDir,
    listen,
    region,
    pool: get("pool") || undefined,
    poolSizeBytes: size("pool-size"),
    prefix,
    logLevel: get("log-level"),
    capacity: { minBytes: size("min-capacity"), maxBytes: size("max-capacity") },
    purgeGraceMs: duration("purge-grace"),
    purgeIntervalMs: duration("purge-interval"),
    debianMirror,
    proxy: {
      ...(get("proxy-listen") ? hostPort("proxy-listen") : defaultProxyListen(listen)),
      baseDomain: get("base-domain"),
    },
    subnet: get("subnet") || undefined,
    rootCapacityBytes: size("root-capacity"),
    snapshotRetention: get("snapshot-retention"),
    reaperIntervalMs: duration("reaper-interval"),
    caFile: get("ca-file") ? resolve(get("ca-file")) : undefined,
  };
  const retention = config.snapshotRetention;
  if (
    retention !== "never" &&
    !(parseDuration(retention) !== undefined && parseDuration(retention)! >= 1000)
  )
    throw new ConfigError(
      `Invalid --snapshot-retention ${JSON.stringify(retention)}: a duration of at least 1s, such as "30d", or "never"`,
    );
  if (
    config.proxy.port !== 0 &&
    config.proxy.port === listen.port &&
    config.proxy.host === listen.host
  )
    throw new ConfigError(
      `Invalid --proxy-listen: ${listen.host}:${listen.port} is the API's address (--listen); give the proxy another`,
    );
  if (config.capacity.minBytes > config.capacity.maxBytes)
    throw new ConfigError("Invalid capacity limits: --min-capacity is above --max-capacity");
  return { config, command };
}

/**
 * The proxy's default address: the API's host and port + 10, so the default 7070 gives
 * 7080 and a second daemon on another `--listen` port gets its own proxy port too; port 0
 * (any free port) gives port 0.
 */
export function defaultProxyListen(listen: { host: string; port: number }): {
  host: string;
  port: number;
} {
  if (listen.port === 0) return { host: listen.host, port: 0 };
  if (listen.port + 10 > 65535)
    throw new ConfigError(
      `--listen port ${listen.port} leaves no room for the proxy's default (port + 10): set --proxy-listen`,
    );
  return { host: listen.host, port: listen.port + 10 };
}

/**
 * Host resources (bridges, nft tables, cgroups) are named from the prefix, so two daemons
 * with different data dirs never touch each other's. Interface names allow 15 bytes, hence
 * a short hash.
 */
export function derivePrefix(dataDir: string): string {
  if (dataDir === "/var/lib/strata") return "strata";
  return `st${createHash("sha256").update(dataDir).digest("hex").slice(0, 6)}`;
}
