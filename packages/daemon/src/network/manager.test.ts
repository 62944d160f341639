/**
 * NetworkManager against the real kernel: needs root, ip and nft. Each run has its own
 * prefix and reaches only this machine (see netns-fixture.ts), and leaves nothing behind.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { createSocket } from "node:dgram";
import { readFile, writeFile } from "node:fs/promises";
import { connect, type Server } from "node:net";
import { after, before, describe, test } from "node:test";
import { run } from "../lib/exec.ts";
import { macOf } from "./addresses.ts";
import { buildAnswer, parseQuery } from "./dns-message.ts";
import { parseAddresses } from "./host-state.ts";
import { NetworkManager } from "./manager.ts";
import {
  listenHost,
  listenIn,
  quietLog as log,
  newPrefix,
  type OutsideWorld,
  outsideWorld,
  prefixLeftovers,
  probe,
  newSandboxId as sbx,
} from "./netns-fixture.ts";
import { attachRules, hostLinkBatch } from "./ruleset.ts";
import type { Attachment } from "./types.ts";

const isRoot = process.getuid?.() === 0;
const hasTools = await run(["nft", "--version"]).then(
  () => run(["ip", "-V"]).then(() => true),
  () => false,
);

if (!isRoot || !hasTools) {
  test("NetworkManager (needs root, ip and nft)", { skip: "not root or ip/nft missing" }, () => {});
} else {
  describe("NetworkManager", () => {
    const prefix = newPrefix();
    // Names the fake upstream resolver (and the injected attach-time lookup) know.
    const dnsNames = new Map<string, string>();
    const asked: string[] = [];
    const upstream = createSocket("udp4");
    const children: ChildProcess[] = [];
    const managers: NetworkManager[] = [];
    let net: NetworkManager;
    let world: OutsideWorld;
    let hostServer: Server;
    let forwardBefore: string;

    before(async () => {
      forwardBefore = (await readFile("/proc/sys/net/ipv4/ip_forward", "utf8")).trim();
      upstream.on("message", (msg, from) => {
        const q = parseQuery(msg);
        if (!q || !("name" in q)) return;
        asked.push(q.name);
        const a = dnsNames.get(q.name);
        const answer = buildAnswer(msg, q, a ? [{ address: a, ttl: 30 }] : [], a ? 0 : 3);
        upstream.send(answer, from.port, from.address);
      });
      await new Promise<void>((resolve) => upstream.bind(0, "127.0.0.1", resolve));
      net = await NetworkManager.open({
        prefix,
        log,
        lookup: async (h) => (dnsNames.has(h) ? [dnsNames.get(h)!] : []),
        dnsUpstreams: [`127.0.0.1:${upstream.address().port}`],
      });
      managers.push(net);
      world = await outsideWorld(prefix, net.subnet);
      for (const [name, a] of [
        ["api.wild.test", world.a],
        ["evil.test", world.b],
        ["static.test", world.b],
      ])
        dnsNames.set(name!, a!);
      hostServer = await listenHost();
    });

    after(async () => {
      for (const c of children) c.kill();
      hostServer?.close();
      upstream.close();
      for (const m of managers) await m.close();
      await world?.[Symbol.asyncDispose]();
      if (forwardBefore === "0") await writeFile("/proc/sys/net/ipv4/ip_forward", "0");
      assert.deepEqual(await prefixLeftovers(prefix), [], "nothing with the test prefix remains");
    });

    let a: Attachment;
    let b: Attachment;
    const idA = sbx();
    const idB = sbx();

    test("attach() gives a sandbox a netns with its address, a gateway route and no IPv6", async () => {
      [a, b] = await Promise.all([net.attach(idA), net.attach(idB)]);
      assert.equal(a.netnsPath, `/run/netns/${prefix}-${idA.slice(4)}`);
      assert.equal(a.gateway, net.gateway);
      assert.notEqual(a.address, b.address);
      const addr = (await run(["ip", "-n", a.netns, "-br", "addr"])).stdout;
      assert.match(
        addr,
        new RegExp(`eth0@\\S+\\s+UP\\s+${a.address.replaceAll(".", "\\.")}/32\\s*$`, "m"),
      );
      assert.equal((await run(["ip", "-n", a.netns, "-6", "addr"])).stdout.trim(), "");
      assert.match(
        (await run(["ip", "-n", a.netns, "route"])).stdout,
        new RegExp(`default via ${a.gateway} dev eth0 onlink`),
      );
      assert.match(a.resolvConf, /^nameserver /m);
      children.push(await listenIn(b.netns, [8080]));
    });

    test("a sandbox reaches none of the host's addresses, on any port", async () => {
      const port = (hostServer.address() as { port: number }).port;
      // Every IPv4 address of the host: eth0's, the gateway, the outside veth's, other bridges'.
      const all = parseAddresses((await run(["ip", "-j", "-4", "addr"])).stdout)
        .map((x) => x.address)
        .filter((x) => !x.startsWith("127."));
      assert.ok(all.includes(a.gateway) && all.includes(world.hostAddress));
      const targets = all.map((host) => ({ host, port }));
      const results = await probe(a.netns, targets);
      assert.deepEqual(
        results,
        targets.map(() => "ECONNREFUSED"),
        JSON.stringify(targets),
      );
    });

    test("the host reaches a sandbox's listener (the reverse proxy's path)", async () => {
      const got = await new Promise<string>((resolve, reject) => {
        const c = connect({ host: b.address, port: 8080 });
        let data = "";
        c.on("data", (d: Buffer) => (data += d));
        c.on("end", () => resolve(data));
        c.on("error", reject);
      });
      assert.equal(got, net.gateway);
    });

    test("a sandbox reaches no other sandbox, through the gateway or directly on the bridge", async () => {
      assert.deepEqual(await probe(a.netns, [{ host: b.address, port: 8080 }]), ["ECONNREFUSED"]);
      await run(["ip", "-n", a.netns, "route", "add", `${b.address}/32`, "dev", "eth0"]);
      try {
        const [res] = await probe(a.netns, [{ host: b.address, port: 8080, timeout: 1000 }]);
        assert.ok(res === "timeout" || res === "EHOSTUNREACH", `L2 path gave ${res}`);
      } finally {
        await run(["ip", "-n", a.netns, "route", "del", `${b.address}/32`, "dev", "eth0"]);
      }
    });

    test("a sandbox cannot send from an address that is not its own", async () => {
      const spoofed = net.subnet.replace(/\.0\/20$/, ".250");
      await run(["ip", "-n", a.netns, "addr", "add", `${spoofed}/32`, "dev", "eth0"]);
      try {
        // The first connect gets A the gateway's MAC: without it, the spoofed ARP request
        // would be all that is tested.
        const [own, res] = await probe(a.netns, [
          { host: world.a, port: 80 },
          { host: world.a, port: 80, from: spoofed, timeout: 500 },
        ]);
        assert.equal(own, `open:${world.hostAddress}`);
        assert.ok(res === "timeout" || res === "EHOSTUNREACH", `spoofed connect gave ${res}`);
        // Had a frame passed the bridge table, conntrack would have an entry for it.
        const conntrack = await readFile("/proc/net/nf_conntrack", "utf8");
        assert.doesNotMatch(conntrack, new RegExp(`src=${spoofed.replaceAll(".", "\\.")} `));
      } finally {
        await run(["ip", "-n", a.netns, "addr", "del", `${spoofed}/32`, "dev", "eth0"]);
      }
    });

    test("a sandbox reaches the outside through NAT but never link-local addresses", async () => {
      const res = await probe(a.netns, [
        { host: world.a, port: 80 },
        { host: "169.254.169.254", port: 80 },
      ]);
      assert.deepEqual(res, [`open:${world.hostAddress}`, "ECONNREFUSED"]);
    });

    test("allowNet restricts egress to the listed addresses and ports; [] allows nothing", async () => {
      const ids = [sbx(), sbx()] as const;
      const [c, d] = await Promise.all([
        net.attach(ids[0], { allowNet: [`${world.a}:80`, "static.test:81"] }),
        net.attach(ids[1], { allowNet: [] }),
      ]);
      const targets = [80, 81].flatMap((port) =>
        [world.a, world.b].map((host) => ({ host, port })),
      );
      assert.deepEqual(await probe(c.netns, targets), [
        `open:${world.hostAddress}`,
        "ECONNREFUSED",
        "ECONNREFUSED",
        `open:${world.hostAddress}`,
      ]);
      assert.deepEqual(
        await probe(d.netns, [...targets, { resolve: "api.wild.test", server: d.gateway }]),
        [...targets.map(() => "ECONNREFUSED"), "ENOTFOUND"],
      );
      assert.equal(c.resolvConf, `nameserver ${net.gateway}\n`);
      await Promise.all(ids.map((id) => net.detach(id)));
    });

    test("the DNS forwarder answers allowed names only and opens their addresses", async () => {
      const id = sbx();
      const e = await net.attach(id, { allowNet: ["*.wild.test:80"] });
      const before = await probe(e.netns, [{ host: world.a, port: 80 }]);
      asked.length = 0;
      const res = await probe(e.netns, [
        { resolve: "evil.test", server: e.gateway },
        { resolve: "API.Wild.test", server: e.gateway },
        { host: world.a, port: 80 },
        { host: world.a, port: 81 },
      ]);
      assert.deepEqual(before, ["ECONNREFUSED"]);
      assert.deepEqual(res, ["ENOTFOUND", world.a, `open:${world.hostAddress}`, "ECONNREFUSED"]);
      assert.deepEqual(asked, ["api.wild.test"], "a refused name never reaches the upstream");
      await net.detach(id);
    });

    test("detach() removes the netns, the veth and the rules, and can be repeated", async () => {
      const id = sbx();
      const f = await net.attach(id, { allowNet: ["203.0.113.0/24"] });
      const owners = async () =>
        (JSON.parse((await run(["ip", "-j", "link"])).stdout) as { ifalias?: string }[]).filter(
          (l) => l.ifalias === id,
        );
      assert.equal((await owners()).length, 1);
      await net.detach(id);
      await net.detach(id);
      assert.deepEqual(await owners(), []);
      assert.doesNotMatch((await run(["ip", "netns", "list"])).stdout, new RegExp(f.netns));
      assert.doesNotMatch(
        (await run(["nft", "list", "table", "inet", prefix])).stdout,
        new RegExp(id),
      );
      const ports = (await run(["nft", "list", "set", "bridge", prefix, "ports"])).stdout;
      assert.doesNotMatch(ports, new RegExp(`${f.address.replaceAll(".", "\\.")}\\b`));
    });

    test("reconcile() removes what a crashed attach left and keeps live sandboxes", async () => {
      const crashed = sbx();
      const half = sbx();
      const veth = `${prefix}-0ffe`; // index 4094: the last address of the /20
      const address = net.subnet.replace(
        /\.\d+\.0\/20$/,
        (m) => `.${Number(m.split(".")[1]) + 15}.254`,
      );
      await run(["ip", "-batch", "-"], {
        input: hostLinkBatch({
          netns: `${prefix}-${crashed.slice(4)}`,
          bridge: net.bridge,
          veth,
          mac: macOf(address),
          sandboxId: crashed,
        }),
      });
      await run(["ip", "netns", "add", `${prefix}-${half.slice(4)}`]);
      await run(["nft", "-f", "-"], {
        input: attachRules(
          prefix,
          { id: crashed, veth, mac: macOf(address), address },
          { nets: [], services: [] },
        ),
      });
      const removed = await net.reconcile([idA, idB]);
      assert.deepEqual(removed, [crashed, half].sort());
      const left = await prefixLeftovers(prefix);
      assert.ok(
        left.every(
          (l) => !l.includes(crashed.slice(4)) && !l.includes(half.slice(4)) && !l.startsWith(veth),
        ),
        left.join("\n"),
      );
      assert.doesNotMatch(
        (await run(["nft", "list", "ruleset"])).stdout,
        new RegExp(`${crashed}|${address.replaceAll(".", "\\.")} `),
      );
      assert.deepEqual(await probe(a.netns, [{ host: world.a, port: 80 }]), [
        `open:${world.hostAddress}`,
      ]);
    });

    test("two daemons with different prefixes coexist, and neither's sandboxes reach the other's", async () => {
      const other = await NetworkManager.open({ prefix: newPrefix(), log });
      managers.push(other);
      assert.notEqual(other.subnet, net.subnet);
      assert.notEqual(other.bridge, net.bridge);
      const g = await other.attach(sbx());
      assert.deepEqual(
        await probe(g.netns, [
          { host: b.address, port: 8080 },
          { host: net.gateway, port: (hostServer.address() as { port: number }).port },
        ]),
        ["ECONNREFUSED", "ECONNREFUSED"],
      );
      assert.deepEqual(await probe(a.netns, [{ host: world.a, port: 80 }]), [
        `open:${world.hostAddress}`,
      ]);
      await other.close();
      assert.deepEqual(await prefixLeftovers(other.prefix), []);
    });

    test("a restarted daemon finds its sandboxes, adopts one and reconciles the rest", async () => {
      const again = await NetworkManager.open({ prefix, log });
      managers.push(again);
      const adopted = await again.adopt(idA, { allowNet: [`${world.b}:81`] });
      assert.equal(adopted.address, a.address);
      assert.deepEqual(
        await probe(a.netns, [
          { host: world.a, port: 80 },
          { host: world.b, port: 81 },
        ]),
        ["ECONNREFUSED", `open:${world.hostAddress}`],
      );
      assert.deepEqual(await again.reconcile([idA]), [idB]);
      await again.detach(idA);
      assert.deepEqual(await again.reconcile([]), []);
    });

    test("warm networks: attach hands one out, allowNet still applies, reconcile keeps them, close removes them", async () => {
      const warm = await NetworkManager.open({ prefix: newPrefix(), log, warm: 2 });
      managers.push(warm);
      const pooled = async () =>
        (await prefixLeftovers(warm.prefix)).filter((l) => l.startsWith(`${warm.prefix}-pool`));
      // Reconciles while they are being made (as at daemon start) keep them.
      let filled = false;
      const filling = warm.settle().then(() => {
        filled = true;
      });
      const removed: string[] = [];
      while (!filled) removed.push(...(await warm.reconcile([])));
      await filling;
      removed.push(...(await warm.reconcile([])));
      assert.deepEqual(removed, []);
      assert.equal((await pooled()).length, 2, (await prefixLeftovers(warm.prefix)).join("\n"));
      const open = sbx();
      const shut = sbx();
      const x = await warm.attach(open);
      assert.match(x.netns, /-pool[0-9a-z]{16}$/, "the network was made ahead");
      assert.match(
        (await run(["ip", "-n", x.netns, "-br", "addr"])).stdout,
        new RegExp(`eth0@\\S+\\s+UP\\s+${x.address.replaceAll(".", "\\.")}/32`),
      );
      const port = (hostServer.address() as { port: number }).port;
      assert.deepEqual(
        await probe(x.netns, [
          { host: x.gateway, port },
          { host: b.address, port: 8080 },
        ]),
        ["ECONNREFUSED", "ECONNREFUSED"],
        "a warm network is isolated like any other",
      );
      const y = await warm.attach(shut, { allowNet: [] });
      assert.match(
        (await run(["nft", "list", "map", "inet", warm.prefix, "egress"])).stdout,
        new RegExp(`${y.address.replaceAll(".", "\\.")} : jump ${shut}`),
      );
      assert.deepEqual(await warm.reconcile([open, shut]), []);
      await warm.settle();
      assert.equal((await pooled()).length, 4, "two handed out, two spare again");
      await warm.detach(open);
      assert.doesNotMatch((await run(["ip", "netns", "list"])).stdout, new RegExp(x.netns));
      assert.deepEqual(await warm.reconcile([]), [shut]);
      await warm.close();
      assert.deepEqual(await prefixLeftovers(warm.prefix), []);
    });

    test("attach + detach latency (printed, not asserted)", async (t) => {
      const times: { attach: number; detach: number }[] = [];
      for (let i = 0; i < 10; i++) {
        const id = sbx();
        const t0 = performance.now();
        await net.attach(id, i % 2 ? { allowNet: ["203.0.113.0/24", "static.test:443"] } : {});
        const t1 = performance.now();
        await net.detach(id);
        times.push({ attach: t1 - t0, detach: performance.now() - t1 });
      }
      const median = (xs: number[]) => xs.sort((x, y) => x - y)[xs.length >> 1]!.toFixed(1);
      t.diagnostic(
        `attach median ${median(times.map((x) => x.attach))} ms, detach median ${median(times.map((x) => x.detach))} ms (10 runs)`,
      );
    });
  });
}
