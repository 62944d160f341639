/**
 * Test helpers for the network module's root tests: probes run inside a netns, listeners,
 * and an "outside world" netns. Everything stays on this machine: the outside world is a
 * netns behind its own veth holding TEST-NET addresses (and, for traffic from one subnet
 * only, 169.254.169.254), so a broken rule shows as a connection that succeeds, never as
 * a packet leaving the host.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes, randomInt } from "node:crypto";
import { createServer, type Server } from "node:net";
import { run } from "../lib/exec.ts";

export const quietLog = { info() {}, warn() {}, error() {} };

export const newPrefix = (): string => `nt${randomBytes(4).toString("hex").slice(0, 5)}`;

export const newSandboxId = (): string =>
  `sbx_${[...randomBytes(20)].map((b) => "0123456789abcdefghjkmnpqrstvwxyz"[b & 31]).join("")}`;

/** Connects (reading what the server sends) or resolves from inside a netns. */
const PROBE = `
const net = require("node:net"), dns = require("node:dns");
(async () => {
  const out = [];
  for (const op of JSON.parse(process.argv[1])) {
    if (op.resolve) {
      const r = new dns.promises.Resolver({ timeout: 1500, tries: 1 });
      r.setServers([op.server]);
      out.push(await r.resolve4(op.resolve).then((a) => a.join(","), (e) => e.code));
      continue;
    }
    out.push(await new Promise((res) => {
      const s = net.connect({ host: op.host, port: op.port, localAddress: op.from });
      let data = "";
      s.setTimeout(op.timeout ?? 1500, () => { s.destroy(); res("timeout"); });
      s.on("data", (d) => (data += d));
      s.on("end", () => res("open:" + data));
      s.on("error", (e) => res(e.code));
    }));
  }
  console.log(JSON.stringify(out));
})();`;

export type ProbeOp =
  | { host: string; port: number; timeout?: number; from?: string }
  | { resolve: string; server: string };

/**
 * Runs probes inside a netns, one result each: "open:<what the server sent>", an error
 * code (ECONNREFUSED is the TCP reset refused traffic gets), "timeout", or resolved addresses.
 */
export async function probe(netns: string, ops: ProbeOp[]): Promise<string[]> {
  const argv = ["ip", "netns", "exec", netns, process.execPath, "-e", PROBE, JSON.stringify(ops)];
  return JSON.parse((await run(argv)).stdout) as string[];
}

/** TCP servers inside a netns that answer with the client's address and close. */
export async function listenIn(netns: string, ports: number[]): Promise<ChildProcess> {
  const script = `const net = require("node:net"); let n = 0;
    for (const p of JSON.parse(process.argv[1])) net.createServer((s) => s.end(s.remoteAddress)).listen(p, "0.0.0.0", () => { if (++n === ${ports.length}) console.log("ready"); });`;
  const argv = ["netns", "exec", netns, process.execPath, "-e", script, JSON.stringify(ports)];
  const child = spawn("ip", argv, { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on("data", (d: Buffer) => d.toString().includes("ready") && resolve());
    child.once("exit", (code) => reject(new Error(`listener in ${netns} exited with ${code}`)));
  });
  return child;
}

/** A TCP server of the host on 0.0.0.0 (every host address), on an ephemeral port. */
export async function listenHost(): Promise<Server> {
  const server = createServer((s) => s.end("host"));
  await new Promise<void>((resolve) => server.listen(0, "0.0.0.0", resolve));
  return server;
}

/** Every netns, link and nft table whose name starts with the prefix. */
export async function prefixLeftovers(prefix: string): Promise<string[]> {
  const [ns, links, tables] = await Promise.all([
    run(["ip", "netns", "list"]),
    run(["ip", "-br", "link"]),
    run(["nft", "list", "tables"]),
  ]);
  return [...ns.stdout.split("\n"), ...links.stdout.split("\n"), ...tables.stdout.split("\n")]
    .map((l) => l.trim())
    .filter((l) => l.startsWith(prefix) || l.endsWith(` ${prefix}`));
}

/** The stand-in for the internet; see the module comment. */
export interface OutsideWorld extends AsyncDisposable {
  /** The host's address on the veth to it (what NAT rewrites sandbox addresses to). */
  hostAddress: string;
  /** Two addresses out there, each with listeners on ports 80 and 81. */
  a: string;
  b: string;
}

/** Builds the outside world for a prefix; traffic from `subnet` to 169.254.169.254 goes there too. */
export async function outsideWorld(prefix: string, subnet: string): Promise<OutsideWorld> {
  const netns = `${prefix}-outside`;
  const veth = `${prefix}o`;
  const r = 4 * randomInt(1, 60);
  const [hostAddress, peer] = [`198.51.100.${r + 1}`, `198.51.100.${r + 2}`];
  const far = { a: `203.0.113.${r + 1}`, b: `203.0.113.${r + 2}`, net: `203.0.113.${r}/30` };
  const table = String(randomInt(20000, 30000));
  const rule = `from ${subnet} to 169.254.169.254/32 lookup ${table} pref ${table}`;
  let listener: ChildProcess | undefined;
  const dispose = async () => {
    listener?.kill();
    const quiet = (argv: string[]) => run(argv).catch(() => {});
    await quiet(["ip", "rule", "del", ...rule.split(" ")]);
    await quiet(["ip", "route", "del", "169.254.169.254/32", "table", table]);
    await quiet(["ip", "route", "del", far.net]);
    await quiet(["ip", "link", "del", veth]);
    await quiet(["ip", "netns", "del", netns]);
  };
  try {
    await run(["ip", "netns", "add", netns]);
    await run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns]);
    await run(["ip", "-batch", "-"], {
      input: [
        `addr add ${hostAddress}/30 dev ${veth}`,
        `link set dev ${veth} up`,
        `route add ${far.net} via ${peer}`,
        `rule add ${rule}`,
        `route add 169.254.169.254/32 via ${peer} table ${table}`,
        "",
      ].join("\n"),
    });
    await run(["ip", "-n", netns, "-batch", "-"], {
      input: [
        "link set dev lo up",
        `addr add ${peer}/30 dev eth0`,
        "link set dev eth0 up",
        `addr add ${far.a}/32 dev lo`,
        `addr add ${far.b}/32 dev lo`,
        "addr add 169.254.169.254/32 dev lo",
        `route add default via ${hostAddress}`,
        "",
      ].join("\n"),
    });
    listener = await listenIn(netns, [80, 81]);
  } catch (err) {
    await dispose();
    throw err;
  }
  return { hostAddress, a: far.a, b: far.b, [Symbol.asyncDispose]: dispose };
}
