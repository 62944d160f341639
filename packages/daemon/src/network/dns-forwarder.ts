/**
 * A small DNS forwarder inside the daemon, for sandboxes with `allowNet`: it answers only
 * names the sandbox's policy allows (NXDOMAIN for others, so nothing leaks through DNS
 * queries either), forwards those to the host's resolvers, and lets the policy learn the
 * A records before the answer goes back — so the sandbox can connect as soon as it has
 * the address, and hostname rules follow DNS changes and cover `*.domain` entries.
 *
 * Sandboxes send to gateway:53; nft redirects that to this socket's port. The client is
 * identified by its source address, which the bridge table keeps unspoofable.
 */

import { randomInt } from "node:crypto";
import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { isIPv6 } from "node:net";
import { type DnsResponse, errorAnswer, parseQuery, parseResponse, RCODE } from "./dns-message.ts";

export interface Upstream {
  address: string;
  port: number;
}

/** What to do with a query for `name` from the sandbox at `client`. */
export type DnsDecision =
  | { forward: false }
  | { forward: true; learn?: (records: DnsResponse["a"]) => Promise<void> };

export interface DnsForwarderLog {
  warn(obj: object, msg: string): void;
}

/** Per upstream try; glibc's own timeout is 5 s, so one retry still fits in it. */
const UPSTREAM_TIMEOUT_MS = 2000;
/** In-flight queries at most, so a busy sandbox cannot exhaust the daemon's descriptors. */
const MAX_IN_FLIGHT = 512;

export class DnsForwarder {
  readonly port: number;
  #socket: Socket;
  #upstreams: () => readonly Upstream[];
  #decide: (client: string, name: string) => DnsDecision;
  #log: DnsForwarderLog;
  #inFlight = new Set<Socket>();

  private constructor(
    socket: Socket,
    options: {
      upstreams: () => readonly Upstream[];
      decide: (client: string, name: string) => DnsDecision;
      log: DnsForwarderLog;
    },
  ) {
    this.#socket = socket;
    this.port = socket.address().port;
    this.#upstreams = options.upstreams;
    this.#decide = options.decide;
    this.#log = options.log;
    socket.on("message", (msg, rinfo) => {
      this.#handle(msg, rinfo).catch((err) =>
        this.#log.warn({ err, client: rinfo.address }, "DNS forwarder failed to answer a query"),
      );
    });
    socket.on("error", (err) => this.#log.warn({ err }, "DNS forwarder socket error"));
  }

  /** Listens on an ephemeral UDP port of `address` (the bridge's gateway address). */
  static async start(options: {
    address: string;
    upstreams: () => readonly Upstream[];
    decide: (client: string, name: string) => DnsDecision;
    log: DnsForwarderLog;
  }): Promise<DnsForwarder> {
    const socket = createSocket("udp4");
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind({ address: options.address, port: 0 }, () => {
        socket.off("error", reject);
        resolve();
      });
    });
    return new DnsForwarder(socket, options);
  }

  async close(): Promise<void> {
    for (const s of this.#inFlight) closeQuietly(s);
    this.#inFlight.clear();
    await new Promise<void>((resolve) => this.#socket.close(() => resolve()));
  }

  async #handle(msg: Buffer, rinfo: RemoteInfo): Promise<void> {
    const q = parseQuery(msg);
    if (!q) return;
    const reply = (b: Uint8Array) => this.#socket.send(b, rinfo.port, rinfo.address);
    if (!("name" in q)) return reply(errorAnswer(msg, q.rcode));
    const decision = this.#decide(rinfo.address, q.name);
    if (!decision.forward) return reply(errorAnswer(msg, RCODE.NXDOMAIN, q.questionEnd));
    if (this.#inFlight.size >= MAX_IN_FLIGHT)
      return reply(errorAnswer(msg, RCODE.SERVFAIL, q.questionEnd));
    const answer = await this.#ask(msg, q.name, q.type);
    if (!answer) return reply(errorAnswer(msg, RCODE.SERVFAIL, q.questionEnd));
    if (decision.learn && answer.parsed.rcode === RCODE.NOERROR && answer.parsed.a.length > 0) {
      try {
        await decision.learn(answer.parsed.a);
      } catch (err) {
        // An answer the sandbox could not use would only look like a network failure.
        this.#log.warn({ err, client: rinfo.address, name: q.name }, "Could not allow DNS answer");
        return reply(errorAnswer(msg, RCODE.SERVFAIL, q.questionEnd));
      }
    }
    answer.raw.writeUInt16BE(q.id, 0);
    reply(answer.raw);
  }

  /** Asks each upstream in turn, with a fresh socket (random source port) and random id. */
  async #ask(
    query: Buffer,
    name: string,
    type: number,
  ): Promise<{ raw: Buffer; parsed: DnsResponse } | undefined> {
    for (const up of this.#upstreams()) {
      const id = randomInt(0x10000);
      const out = Buffer.from(query);
      out.writeUInt16BE(id, 0);
      const socket = createSocket(isIPv6(up.address) ? "udp6" : "udp4");
      this.#inFlight.add(socket);
      try {
        const got = await new Promise<{ raw: Buffer; parsed: DnsResponse } | undefined>(
          (resolve) => {
            const timer = setTimeout(() => resolve(undefined), UPSTREAM_TIMEOUT_MS);
            socket.on("error", () => {
              clearTimeout(timer);
              resolve(undefined);
            });
            socket.on("close", () => {
              clearTimeout(timer);
              resolve(undefined);
            });
            socket.on("message", (raw, from) => {
              if (from.address !== up.address || from.port !== up.port) return;
              const parsed = parseResponse(raw);
              if (!parsed || parsed.id !== id || parsed.name !== name || parsed.type !== type)
                return;
              clearTimeout(timer);
              resolve({ raw, parsed });
            });
            socket.send(out, up.port, up.address);
          },
        );
        if (got) return got;
      } finally {
        this.#inFlight.delete(socket);
        closeQuietly(socket);
      }
    }
    return undefined;
  }
}

/** Parses "1.2.3.4", "1.2.3.4:5353", "::1" or "[::1]:5353" into an upstream. */
export function parseUpstream(s: string): Upstream {
  const m = /^\[(.+)\](?::(\d+))?$/.exec(s) ?? /^([^:]+)(?::(\d+))?$/.exec(s);
  if (m) return { address: m[1]!, port: m[2] ? Number(m[2]) : 53 };
  return { address: s, port: 53 };
}

/** Closes a socket that close() may already have closed (dgram throws on a second close). */
function closeQuietly(socket: Socket): void {
  try {
    socket.close();
  } catch {
    // already closed
  }
}
