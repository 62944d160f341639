import assert from "node:assert/strict";
import { resolve } from "node:path";
import { test } from "node:test";
import { ConfigError, DEFAULT_CA_FILE, derivePrefix, resolveConfig, usage } from "./config.ts";

test("resolveConfig() uses the documented defaults", () => {
  const { config, command } = resolveConfig([], {});
  assert.equal(command, "run");
  assert.equal(config.dataDir, "/var/lib/strata");
  assert.deepEqual(config.listen, { host: "127.0.0.1", port: 7070 });
  assert.equal(config.region, "local");
  assert.equal(config.pool, undefined);
  assert.equal(config.prefix, "strata");
  assert.deepEqual(config.capacity, { minBytes: 300_000_000, maxBytes: 20_000_000_000 });
  assert.equal(config.purgeGraceMs, 24 * 3600_000);
});

test("resolveConfig() prefers flags over STRATA_* variables over defaults", () => {
  const env = { STRATA_DATA_DIR: "/srv/a", STRATA_LISTEN: "127.0.0.1:8000", STRATA_REGION: "eu" };
  const fromEnv = resolveConfig([], env).config;
  assert.equal(fromEnv.dataDir, "/srv/a");
  assert.equal(fromEnv.listen.port, 8000);
  assert.equal(fromEnv.region, "eu");
  const fromFlags = resolveConfig(
    ["--data-dir", "/srv/b", "--listen", "0.0.0.0:9000", "--pool", "/mnt/btrfs"],
    env,
  ).config;
  assert.equal(fromFlags.dataDir, "/srv/b");
  assert.deepEqual(fromFlags.listen, { host: "0.0.0.0", port: 9000 });
  assert.equal(fromFlags.pool, "/mnt/btrfs");
});

test("resolveConfig() gives two data dirs two different resource prefixes", () => {
  const a = resolveConfig(["--data-dir", "/tmp/a"], {}).config.prefix;
  const b = resolveConfig(["--data-dir", "/tmp/b"], {}).config.prefix;
  assert.notEqual(a, b);
  assert.equal(a, derivePrefix("/tmp/a"));
  assert.ok(a.length <= 8);
});

test("resolveConfig() rejects bad values with a message naming them", () => {
  assert.throws(
    () => resolveConfig(["--listen", "nope"], {}),
    (e: unknown) => e instanceof ConfigError && /"nope"/.test(e.message),
  );
  assert.throws(() => resolveConfig(["--pool-size", "big"], {}), ConfigError);
  assert.throws(() => resolveConfig(["--purge-grace", "forever"], {}), ConfigError);
  assert.throws(() => resolveConfig(["--min-capacity", "30GB"], {}), ConfigError);
  assert.throws(() => resolveConfig(["frobnicate"], {}), ConfigError);
  assert.throws(() => resolveConfig(["--unknown-flag"], {}), {
    code: "ERR_PARSE_ARGS_UNKNOWN_OPTION",
  });
});

test("resolveConfig() recognises the doctor command and --help", () => {
  assert.equal(resolveConfig(["doctor"], {}).command, "doctor");
  assert.equal(resolveConfig(["--help"], {}).command, "help");
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
