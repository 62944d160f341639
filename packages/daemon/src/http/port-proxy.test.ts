import assert from "node:assert/strict";
import { test } from "node:test";
import { parseSandboxHost, sandboxHost, sandboxUrl } from "./port-proxy.ts";

test("parseSandboxHost() reads <id>-<port>.<base-domain>, with or without the proxy port", () => {
  assert.deepEqual(parseSandboxHost("0123456789abcdefghjk-8000.localhost:7080", "localhost"), {
    id: "0123456789abcdefghjk",
    port: 8000,
  });
  assert.deepEqual(
    parseSandboxHost("0123456789ABCDEFGHJK-80.Sandbox.Example.com", "sandbox.example.com"),
    { id: "0123456789abcdefghjk", port: 80 },
  );
});

test("parseSandboxHost() refuses other domains, malformed ids and ports out of range", () => {
  for (const host of [
    undefined,
    "",
    "localhost:7080",
    "0123456789abcdefghjk-8000.evil.com",
    "short-8000.localhost",
    "0123456789abcdefghjk-0.localhost",
    "0123456789abcdefghjk-70000.localhost",
    "0123456789abcdefghjk-8000.localhost.evil.com",
    "a.0123456789abcdefghjk-8000.localhost",
  ]) {
    assert.equal(parseSandboxHost(host, "localhost"), undefined, String(host));
  }
});

test("sandboxUrl() and parseSandboxHost() agree", () => {
  const url = new URL(
    sandboxUrl({ baseDomain: "localhost", proxyPort: 7080 }, "sbx_0123456789abcdefghjk", 8000),
  );
  assert.equal(url.href, "http://0123456789abcdefghjk-8000.localhost:7080/");
  assert.deepEqual(parseSandboxHost(url.host, "localhost"), {
    id: "0123456789abcdefghjk",
    port: 8000,
  });
});

test("sandboxHost() names the sandbox's exposed port without a port in the name", () => {
  const host = sandboxHost(
    { baseDomain: "localhost", proxyPort: 7080 },
    "sbx_0123456789abcdefghjk",
  );
  assert.equal(host, "0123456789abcdefghjk.localhost:7080");
  assert.deepEqual(parseSandboxHost(host, "localhost"), {
    id: "0123456789abcdefghjk",
    port: undefined,
  });
});
