import assert from "node:assert/strict";
import { test } from "node:test";
import {
  parseResolvConf,
  renderResolvConf,
  sandboxNameservers,
  sandboxResolvConf,
} from "./resolv-conf.ts";

const rc = (text: string) => parseResolvConf(text);

test("parseResolvConf() reads nameservers, the last search line and options", () => {
  assert.deepEqual(
    rc(
      "# comment\nnameserver 10.255.255.53\nnameserver fe80::1%eth0\ndomain a.test\nsearch b.test c.test ; x\noptions edns0 trust-ad\n",
    ),
    {
      nameservers: ["10.255.255.53", "fe80::1"],
      search: ["b.test", "c.test"],
      options: ["edns0", "trust-ad"],
    },
  );
});

test("sandboxNameservers() uses the host's IPv4 resolvers as they are", () => {
  const host = rc("nameserver 10.255.255.53\nnameserver 2001:db8::53\n");
  assert.deepEqual(sandboxNameservers({ host, systemd: undefined, hostAddresses: new Set() }), {
    nameservers: ["10.255.255.53"],
  });
});

test("sandboxNameservers() replaces systemd-resolved's stub by its upstreams", () => {
  const host = rc("nameserver 127.0.0.53\noptions edns0\n");
  const systemd = rc("nameserver 192.0.2.53\nnameserver 192.0.2.54\n");
  assert.deepEqual(sandboxNameservers({ host, systemd, hostAddresses: new Set() }), {
    nameservers: ["192.0.2.53", "192.0.2.54"],
  });
});

test("sandboxNameservers() says why no host resolver is reachable from a sandbox", () => {
  const none = (text: string, hostAddresses = new Set<string>()) =>
    sandboxNameservers({ host: rc(text), systemd: undefined, hostAddresses });
  assert.deepEqual(none("nameserver 127.0.0.53\n"), {
    unusable:
      "the host's resolver 127.0.0.53 is a loopback address and /run/systemd/resolve/resolv.conf does not exist",
  });
  assert.deepEqual(
    none("nameserver 169.254.169.253\nnameserver 192.0.2.2\n", new Set(["192.0.2.2"])),
    {
      unusable:
        "no resolver in /etc/resolv.conf is reachable from a sandbox: 169.254.169.253 (link-local), 192.0.2.2 (an address of the host)",
    },
  );
  assert.deepEqual(none(""), { unusable: "/etc/resolv.conf lists no nameserver" });
});

test("renderResolvConf() keeps the host's search list and options", () => {
  const host = rc("nameserver 10.255.255.53\nsearch corp.test\noptions ndots:2\n");
  assert.equal(
    renderResolvConf(["10.64.0.1"], host),
    "nameserver 10.64.0.1\nsearch corp.test\noptions ndots:2\n",
  );
  assert.equal(renderResolvConf(["10.255.255.53"], rc("")), "nameserver 10.255.255.53\n");
});

test("sandboxResolvConf() points restricted sandboxes, and all when it must, at the gateway", () => {
  const base = { systemd: undefined, hostAddresses: new Set<string>(), gateway: "10.64.0.1" };
  const host = rc("nameserver 10.255.255.53\n");
  assert.deepEqual(sandboxResolvConf({ ...base, host, restricted: false }), {
    text: "nameserver 10.255.255.53\n",
  });
  assert.deepEqual(sandboxResolvConf({ ...base, host, restricted: true }), {
    text: "nameserver 10.64.0.1\n",
  });
  assert.deepEqual(
    sandboxResolvConf({ ...base, host: rc("nameserver 127.0.0.1\n"), restricted: false }),
    {
      text: "nameserver 10.64.0.1\n",
      fallback:
        "the host's resolver 127.0.0.1 is a loopback address and /run/systemd/resolve/resolv.conf does not exist",
    },
  );
});
