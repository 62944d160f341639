import assert from "node:assert/strict";
import { resolve } from "node:path";
import { test } from "node:test";
import {
  ConfigError,
  DEFAULT_CA_FILE,
  defaultProxyListen,
  derivePrefix,
  resolveConfig,
  usage,
} from "./config.ts";

const MIRROR = "http://mirror.example.org/debian";
const host = { debianMirror: () => MIRROR };
const noAptSources = { debianMirror: () => undefined };

test("resolveConfig() uses the documented defaults", () => {
  const { config, command } = resolveConfig([], {}, host);
  assert.equal(command, "run");
  assert.equal(config.dataDir, "/var/lib/strata");
  assert.deepEqual(config.listen, { host: "127.0.0.1", port: 7070 });
  assert.equal(config.region, "local");
  assert.equal(config.pool, undefined);
  assert.equal(config.prefix, "strata");
  assert.deepEqual(config.capacity, { minBytes: 300_000_000, maxBytes: 20_000_000_000 });
  assert.equal(config.purgeGraceMs, 24 * 3600_000);
  assert.equal(config.debianMirror, MIRROR);
  assert.deepEqual(config.proxy, { host: "127.0.0.1", port: 7080, baseDomain: "localhost" });
});

test("resolveConfig() prefers flags over STRATA_* variables over defaults", () => {
  const env = { STRATA_DATA_DIR: "/srv/a", STRATA_LISTEN: "127.0.0.1:8000", STRATA_REGION: "eu" };
  const fromEnv = resolveConfig([], env, host).config;
  assert.equal(fromEnv.dataDir, "/srv/a");
  assert.equal(fromEnv.listen.port, 8000);
  assert.equal(fromEnv.region, "eu");
  const fromFlags = resolveConfig(
    ["--data-dir", "/srv/b", "--listen", "0.0.0.0:9000", "--pool", "/mnt/btrfs"],
    env,
    host,
  ).config;
  assert.equal(fromFlags.dataDir, "/srv/b");
  assert.deepEqual(fromFlags.listen, { host: "0.0.0.0", port: 9000 });
  assert.equal(fromFlags.pool, "/mnt/btrfs");
});

test("resolveConfig() gives two data dirs two different resource prefixes", () => {
  const a = resolveConfig(["--data-dir", "/tmp/a"], {}, host).config.prefix;
  const b = resolveConfig(["--data-dir", "/tmp/b"], {}, host).config.prefix;
  assert.notEqual(a, b);
  assert.equal(a, derivePrefix("/tmp/a"));
  assert.ok(a.length <= 8);
});

test("resolveConfig() rejects bad values with a message naming them", () => {
  assert.throws(
    () => resolveConfig(["--listen", "nope"], {}, host),
    (e: unknown) => e instanceof ConfigError && /"nope"/.test(e.message),
  );
  assert.throws(() => resolveConfig(["--pool-size", "big"], {}, host), ConfigError);
  assert.throws(() => resolveConfig(["--purge-grace", "forever"], {}, host), ConfigError);
  assert.throws(() => resolveConfig(["--min-capacity", "30GB"], {}, host), ConfigError);
  assert.throws(() => resolveConfig(["frobnicate"], {}, host), ConfigError);
  assert.throws(() => resolveConfig(["--unknown-flag"], {}, host), {
    code: "ERR_PARSE_ARGS_UNKNOWN_OPTION",
  });
});

test("resolveConfig() recognises the doctor command and --help", () => {
  assert.equal(resolveConfig(["doctor"], {}, host).command, "doctor");
  assert.equal(resolveConfig(["--help"], {}, host).command, "help");
});

test("resolveConfig() takes the Debian mirror from the flag, the variable, then the host's apt sources", () => {
  let reads = 0;
  const counting = {
    debianMirror: () => {
      reads++;
      return MIRROR;
    },
  };
  const flag = "http://flag.example.org/debian";
  const env = { STRATA_DEBIAN_MIRROR: "http://env.example.org/debian" };
  assert.equal(resolveConfig(["--debian-mirror", flag], env, counting).config.debianMirror, flag);
  assert.equal(resolveConfig([], env, counting).config.debianMirror, env.STRATA_DEBIAN_MIRROR);
  assert.equal(reads, 0, "the host is not read when a flag or variable names the mirror");
  assert.equal(resolveConfig([], {}, counting).config.debianMirror, MIRROR);
  assert.equal(reads, 1);
});

test("resolveConfig() refuses to run with no Debian mirror, naming --debian-mirror", () => {
  assert.throws(
    () => resolveConfig([], {}, noAptSources),
    (e: unknown) => e instanceof ConfigError && /--debian-mirror/.test(e.message),
  );
  assert.equal(
    resolveConfig(["--debian-mirror", MIRROR], {}, noAptSources).config.debianMirror,
    MIRROR,
  );
  // doctor and --help build nothing, so they need no mirror.
  assert.equal(resolveConfig(["doctor"], {}, noAptSources).command, "doctor");
  assert.equal(resolveConfig(["--help"], {}, noAptSources).command, "help");
});

test("resolveConfig() puts the proxy on the API's host and port + 10 unless --proxy-listen says otherwise", () => {
  const proxyOf = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
    const { host: h, port } = resolveConfig(argv, env, host).config.proxy;
    return `${h}:${port}`;
  };
  assert.equal(proxyOf(["--listen", "127.0.0.1:7170"]), "127.0.0.1:7180");
  assert.equal(proxyOf(["--listen", "0.0.0.0:9000"]), "0.0.0.0:9010");
  assert.equal(proxyOf(["--listen", "[::1]:7070"]), "::1:7080");
  assert.equal(proxyOf(["--listen", "127.0.0.1:0"]), "127.0.0.1:0", "port 0 follows port 0");
  assert.equal(proxyOf([], { STRATA_LISTEN: "127.0.0.2:8000" }), "127.0.0.2:8010");
  assert.equal(
    proxyOf(["--listen", "127.0.0.1:7170", "--proxy-listen", "127.0.0.1:7080"]),
    "127.0.0.1:7080",
  );
  assert.equal(
    proxyOf(["--listen", "127.0.0.1:7170"], { STRATA_PROXY_LISTEN: "[::]:81" }),
    ":::81",
  );
  assert.throws(
    () => resolveConfig(["--listen", "127.0.0.1:65530"], {}, host),
    (e: unknown) => e instanceof ConfigError && /--proxy-listen/.test(e.message),
  );
  assert.throws(
    () =>
      resolveConfig(["--listen", "127.0.0.1:7100", "--proxy-listen", "127.0.0.1:7100"], {}, host),
    (e: unknown) => e instanceof ConfigError && /--proxy-listen/.test(e.message),
  );
  assert.deepEqual(defaultProxyListen({ host: "127.0.0.1", port: 7070 }), {
    host: "127.0.0.1",
    port: 7080,
  });
});

test("resolveConfig() trusts the host's system bundle in sandboxes unless --ca-file says otherwise", () => {
  assert.equal(resolveConfig([], {}).config.caFile, DEFAULT_CA_FILE);
  assert.equal(DEFAULT_CA_FILE, "/etc/ssl/certs/ca-certificates.crt");
  assert.equal(resolveConfig([], { STRATA_CA_FILE: "/srv/ca.pem" }).config.caFile, "/srv/ca.pem");
  assert.equal(
    resolveConfig(["--ca-file", "certs/ca.pem"], {}).config.caFile,
    resolve("certs/ca.pem"),
    "a relative path is the daemon's working directory's",
  );
  assert.equal(resolveConfig(["--ca-file", ""], {}).config.caFile, undefined);
  assert.equal(resolveConfig([], { STRATA_CA_FILE: "" }).config.caFile, undefined);
  assert.match(
    usage(),
    /--ca-file .*\n.*STRATA_CA_FILE, default \/etc\/ssl\/certs\/ca-certificates\.crt/,
  );
});
