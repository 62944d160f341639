import assert from "node:assert/strict";
import { test } from "node:test";
import { StrataError } from "../errors.ts";
import { formatNet } from "./addresses.ts";
import {
  egressTargets,
  hostsToResolve,
  learnTargets,
  MAX_ALLOW_NET,
  matchName,
  parseAllowNet,
} from "./allow-net.ts";

const summary = (entries: string[]) =>
  parseAllowNet(entries).map((r) =>
    r.kind === "net"
      ? `net ${formatNet(r.net)}${r.port ? `:${r.port}` : ""}`
      : `${r.kind} ${r.kind === "host" ? r.host : r.domain}${r.port ? `:${r.port}` : ""}`,
  );

const failure = (entries: string[]): StrataError => {
  try {
    parseAllowNet(entries);
  } catch (err) {
    assert.ok(err instanceof StrataError);
    return err;
  }
  assert.fail(`parseAllowNet(${JSON.stringify(entries)}) did not throw`);
};

test("parseAllowNet() reads every supported entry form", () => {
  assert.deepEqual(
    summary([
      "Mirror.Example.org.",
      "registry.example.net:443",
      "*.example.com",
      "*.example.com:8443",
      "203.0.113.7",
      "203.0.113.0/24",
      "203.0.113.7:8080",
      "198.51.100.0/24:53",
      "0.0.0.0/0",
    ]),
    [
      "host mirror.example.org",
      "host registry.example.net:443",
      "domain example.com",
      "domain example.com:8443",
      "net 203.0.113.7",
      "net 203.0.113.0/24",
      "net 203.0.113.7:8080",
      "net 198.51.100.0/24:53",
      "net 0.0.0.0/0",
    ],
  );
});

test("parseAllowNet() drops duplicates and accepts an empty list", () => {
  assert.deepEqual(summary(["example.com", "EXAMPLE.com", "203.0.113.7", "203.0.113.7/32"]), [
    "host example.com",
    "net 203.0.113.7",
  ]);
  assert.deepEqual(parseAllowNet([]), []);
});

test("parseAllowNet() quotes the bad entry and says what is wrong with it", () => {
  const cases: [string, RegExp][] = [
    ["", /^Invalid allowNet entry "": it is empty$/],
    ["example.com ", /"example.com ": it contains whitespace/],
    ["example.com:0", /"example.com:0": the port must be 1 to 65535$/],
    ["example.com:65536", /the port must be 1 to 65535/],
    ["example.com:80-90", /port ranges are not supported/],
    ["example.com:", /the port must be 1 to 65535/],
    [":80", /":80": the host is empty/],
    [
      "[2001:db8::1]",
      /"\[2001:db8::1\]": IPv6 destinations are not supported: sandboxes have no IPv6/,
    ],
    ["[2001:db8::1]:443", /IPv6 destinations are not supported/],
    ["2001:db8::1", /IPv6 destinations are not supported/],
    ["[nope]", /expected \[IPv6\] or \[IPv6\]:port/],
    ["a:b:c", /expected host, host:port, IPv4, CIDR or ip:port/],
    ["203.0.113.300", /not a valid IPv4 address or CIDR/],
    ["203.0.113.0/33", /not a valid IPv4 address or CIDR/],
    ["203.0.113.1/24", /host bits are set; did you mean "203.0.113.0\/24"\?/],
    ["169.254.169.254", /link-local addresses are never reachable from a sandbox/],
    ["127.0.0.1:8080", /loopback addresses are never reachable/],
    ["224.0.0.251", /multicast is not supported/],
    ["foo.*.com", /a wildcard must be the whole first label/],
    ["*example.com", /a wildcard must be the whole first label/],
    ["-bad.example.com", /the host name label "-bad" is not valid/],
    ["a..b", /the host name has an empty label/],
    ["example.123", /not a valid host name or IPv4 address/],
    [`${"a".repeat(64)}.com`, /is not valid/],
  ];
  for (const [entry, message] of cases) {
    const err = failure([entry]);
    assert.equal(err.code, "invalid_allow_net", entry);
    assert.match(err.message, message, entry);
    assert.deepEqual(
      err.details?.map((d) => d.path),
      ["allowNet[0]"],
      entry,
    );
  }
});

test("parseAllowNet() reports every bad entry in details and the first in the message", () => {
  const err = failure(["ok.example.com", "bad host", "203.0.113.0/24", "[::1]"]);
  assert.match(err.message, /^Invalid allowNet entry "bad host": .* \(and 1 more bad entries\)$/);
  assert.deepEqual(
    err.details?.map((d) => d.path),
    ["allowNet[1]", "allowNet[3]"],
  );
});

test("parseAllowNet() refuses more than MAX_ALLOW_NET entries", () => {
  const entries = Array.from({ length: MAX_ALLOW_NET + 1 }, (_, i) => `h${i}.example.com`);
  assert.match(failure(entries).message, /at most 256 are allowed/);
});

test("matchName() allows exact hosts and subdomains of wildcards, with their ports", () => {
  const rules = parseAllowNet([
    "example.com:443",
    "*.example.com:80",
    "*.example.net",
    "10.0.0.0/8",
  ]);
  assert.deepEqual(matchName(rules, "example.com"), { ports: [443] });
  assert.deepEqual(matchName(rules, "www.example.com"), { ports: [80] });
  assert.deepEqual(matchName(rules, "a.b.example.com"), { ports: [80] });
  assert.deepEqual(matchName(rules, "registry.example.net"), { ports: "any" });
  assert.equal(matchName(rules, "example.net"), undefined, "a wildcard does not match its apex");
  assert.equal(matchName(rules, "badexample.com"), undefined);
  assert.equal(matchName(rules, "example.com.evil.test"), undefined);
  assert.deepEqual(matchName(parseAllowNet(["x.test:80", "x.test"]), "x.test"), { ports: "any" });
});

test("egressTargets() merges static rules and resolved names, dropping covered targets", () => {
  const rules = parseAllowNet([
    "10.1.0.0/16",
    "10.1.2.3",
    "api.test:443",
    "10.1.9.9:443",
    "203.0.113.0/24:443",
    "203.0.113.5:443",
    "unresolved.test",
    "*.wild.test",
  ]);
  const got = egressTargets(rules, new Map([["api.test", ["198.51.100.1", "10.1.4.4"]]]));
  assert.deepEqual(got.nets.map(formatNet), ["10.1.0.0/16"]);
  assert.deepEqual(
    got.services.map((s) => `${formatNet(s.net)}:${s.port}`),
    ["203.0.113.0/24:443", "198.51.100.1:443"],
  );
  assert.deepEqual(hostsToResolve(rules), ["api.test", "unresolved.test"]);
});

test("learnTargets() keeps answers a little longer than their TTL and skips fresh ones", () => {
  const now = 1_000_000;
  const records = [
    { address: "192.0.2.1", ttl: 10 },
    { address: "192.0.2.2", ttl: 600 },
  ];
  assert.deepEqual(learnTargets({ ports: "any", records, learned: new Map(), now }), [
    { key: "192.0.2.1", address: "192.0.2.1", timeoutS: 90 },
    { key: "192.0.2.2", address: "192.0.2.2", timeoutS: 630 },
  ]);
  const learned = new Map([
    ["192.0.2.1:443", now + 60_000],
    ["192.0.2.2:443", now + 60_000],
  ]);
  assert.deepEqual(
    learnTargets({ ports: [443], records, learned, now }).map((t) => t.key),
    ["192.0.2.2:443"],
    "192.0.2.1 still outlives its 10 s TTL; 192.0.2.2 does not outlive 600 s",
  );
});
