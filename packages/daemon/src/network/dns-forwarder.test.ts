import assert from "node:assert/strict";
import { createSocket, type Socket } from "node:dgram";
import { after, before, test } from "node:test";
import { DnsForwarder, parseUpstream } from "./dns-forwarder.ts";
import {
  buildAnswer,
  buildQuery,
  type DnsResponse,
  parseQuery,
  parseResponse,
  RCODE,
} from "./dns-message.ts";

const asked: string[] = [];
const learned: string[] = [];
let failLearn = false;
let upstream: Socket;
let forwarder: DnsForwarder;

before(async () => {
  upstream = createSocket("udp4");
  upstream.on("message", (msg, from) => {
    const q = parseQuery(msg);
    if (!q || !("name" in q)) return;
    asked.push(q.name);
    upstream.send(
      buildAnswer(msg, q, [{ address: "192.0.2.7", ttl: 60 }]),
      from.port,
      from.address,
    );
  });
  await new Promise<void>((resolve) => upstream.bind(0, "127.0.0.1", resolve));
  forwarder = await DnsForwarder.start({
    address: "127.0.0.1",
    upstreams: () => [{ address: "127.0.0.1", port: upstream.address().port }],
    decide: (_client, name) =>
      name.endsWith("allowed.test")
        ? {
            forward: true,
            learn: async (records) => {
              if (failLearn) throw new Error("nft refused");
              learned.push(...records.map((r) => `${name}=${r.address}`));
            },
          }
        : { forward: false },
    log: { warn() {} },
  });
});

after(async () => {
  await forwarder.close();
  upstream.close();
});

async function ask(name: string): Promise<DnsResponse> {
  const client = createSocket("udp4");
  try {
    return await new Promise((resolve, reject) => {
      client.on("message", (msg) => {
        const r = parseResponse(msg);
        if (r) resolve(r);
        else reject(new Error("malformed answer"));
      });
      client.send(buildQuery(0x4242, name), forwarder.port, "127.0.0.1");
    });
  } finally {
    client.close();
  }
}

test("DnsForwarder forwards an allowed name and lets the policy learn the answer first", async () => {
  learned.length = 0;
  const r = await ask("www.allowed.test");
  assert.equal(r.id, 0x4242, "the client's id comes back");
  assert.equal(r.rcode, RCODE.NOERROR);
  assert.deepEqual(r.a, [{ address: "192.0.2.7", ttl: 60 }]);
  assert.deepEqual(learned, ["www.allowed.test=192.0.2.7"], "learned before the answer was sent");
});

test("DnsForwarder answers NXDOMAIN for other names without asking upstream", async () => {
  asked.length = 0;
  const r = await ask("exfiltrate.evil.test");
  assert.equal(r.rcode, RCODE.NXDOMAIN);
  assert.equal(r.name, "exfiltrate.evil.test");
  assert.deepEqual(asked, []);
});

test("DnsForwarder answers SERVFAIL when the answer cannot be allowed", async () => {
  failLearn = true;
  try {
    assert.equal((await ask("api.allowed.test")).rcode, RCODE.SERVFAIL);
  } finally {
    failLearn = false;
  }
});

test("parseUpstream() reads addresses with and without ports", () => {
  assert.deepEqual(parseUpstream("10.255.255.53"), { address: "10.255.255.53", port: 53 });
  assert.deepEqual(parseUpstream("127.0.0.1:5353"), { address: "127.0.0.1", port: 5353 });
  assert.deepEqual(parseUpstream("2001:db8::53"), { address: "2001:db8::53", port: 53 });
  assert.deepEqual(parseUpstream("[2001:db8::53]:5353"), { address: "2001:db8::53", port: 5353 });
});
