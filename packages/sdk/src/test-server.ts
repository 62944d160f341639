import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  STATUS_CODES,
} from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import type { Event, ExecResult, Image, Sandbox, Snapshot, Volume } from "@strata/api";
import type { WebSocket } from "ws";
import { type ExecScript, fakeExec } from "./fake-exec.ts";

export type { ExecInput, ExecScript, FakeExec } from "./fake-exec.ts";

/** A request the fake daemon received. */
export interface SeenRequest {
  method: string;
  url: URL;
  headers: IncomingHttpHeaders;
  /** The parsed body of a JSON request. */
  body: unknown;
  /** The raw bytes of the body. */
  rawBody: Buffer;
}

/** What a route handler answers: a JSON body, or raw text. */
export interface Reply {
  status?: number;
  json?: unknown;
  text?: string;
  /** Raw bytes, sent as they are. */
  bytes?: Uint8Array;
  headers?: Record<string, string>;
}

/** An in-process HTTP server on 127.0.0.1 and a free port, for tests of HTTP clients. */
export interface FakeDaemon extends AsyncDisposable {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** Every request, exec WebSocket handshakes included. */
  requests: SeenRequest[];
  /** Stops the server; rejects with the first error an exec script threw. */
  close(): Promise<void>;
}

export interface FakeDaemonOptions {
  /**
   * Serves the exec WebSocket (`GET /v1/sandboxes/{id}/exec/ws`). Called with each
   * handshake: return a {@link Reply} to refuse it with that HTTP response (as the daemon
   * refuses a bad token), or an {@link ExecScript} to accept it and play the daemon's side.
   * Without it, every WebSocket handshake is refused with 404. Needs the `ws` package.
   */
  exec?: (req: SeenRequest) => Reply | ExecScript;
}

const EXEC_WS = /^\/v1\/sandboxes\/[^/]+\/exec\/ws$/;

/** Starts a server that records each request and answers with `handler`'s reply. */
export async function startFakeDaemon(
  handler: (req: SeenRequest) => Reply | Promise<Reply>,
  options: FakeDaemonOptions = {},
): Promise<FakeDaemon> {
  const requests: SeenRequest[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const rawBody = Buffer.concat(chunks);
    const isJson = (req.headers["content-type"] ?? "application/json").includes("json");
    const seen: SeenRequest = {
      method: req.method ?? "GET",
      url: new URL(req.url ?? "/", `http://${req.headers.host}`),
      headers: req.headers,
      body: rawBody.length > 0 && isJson ? JSON.parse(rawBody.toString("utf8")) : undefined,
      rawBody,
    };
    requests.push(seen);
    try {
      const reply = await handler(seen);
      const body =
        reply.bytes ?? reply.text ?? (reply.json === undefined ? "" : JSON.stringify(reply.json));
      res.writeHead(reply.status ?? 200, {
        ...(reply.json !== undefined ? { "content-type": "application/json" } : {}),
        ...reply.headers,
      });
      res.end(body);
    } catch (err) {
      res.writeHead(500, { "content-type": "text/plain" });
      res.end(String(err));
    }
  });
  const sockets = new Set<WebSocket>();
  const failures: unknown[] = [];
  if (options.exec) {
    const exec = options.exec;
    // Loaded only here, so that the fake daemon's HTTP side needs no WebSocket library.
    const { WebSocketServer } = await import("ws");
    const wss = new WebSocketServer({ noServer: true });
    server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const seen: SeenRequest = {
        method: req.method ?? "GET",
        url: new URL(req.url ?? "/", `http://${req.headers.host}`),
        headers: req.headers,
        body: undefined,
        rawBody: Buffer.alloc(0),
      };
      requests.push(seen);
      let answer: Reply | ExecScript;
      try {
        answer = EXEC_WS.test(seen.url.pathname)
          ? exec(seen)
          : { status: 404, json: { code: "not_found", message: "No WebSocket route" } };
      } catch (err) {
        failures.push(err);
        answer = { status: 500, text: String(err) };
      }
      if (typeof answer !== "function") return refuse(socket, answer);
      wss.handleUpgrade(req, socket, head, (ws) => {
        sockets.add(ws);
        ws.once("close", () => sockets.delete(ws));
        Promise.resolve()
          .then(() => answer(fakeExec(ws)))
          .catch((err: unknown) => {
            failures.push(err);
            ws.terminate();
          });
      });
    });
  } else {
    server.on("upgrade", (_req: IncomingMessage, socket: Duplex) =>
      refuse(socket, { status: 404, json: { code: "not_found", message: "No WebSocket route" } }),
    );
  }
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const close = async () => {
    for (const ws of sockets) ws.terminate();
    await new Promise<void>((resolve, reject) => {
      server.closeAllConnections();
      server.close((err) => (err ? reject(err) : resolve()));
    });
    if (failures.length > 0) throw failures[0];
  };
  return { url: `http://127.0.0.1:${port}`, requests, close, [Symbol.asyncDispose]: close };
}

/** Answers a WebSocket handshake with a plain HTTP response and ends the connection. */
function refuse(socket: Duplex, reply: Reply): void {
  const status = reply.status ?? 400;
  const body = Buffer.from(reply.bytes ?? reply.text ?? JSON.stringify(reply.json ?? {}));
  const headers = {
    "content-type": reply.text === undefined ? "application/json" : "text/plain",
    "content-length": String(body.length),
    connection: "close",
    ...reply.headers,
  };
  const head = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`);
  socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\n${head.join("")}\r\n`);
  socket.end(body);
}

/** A volume as the daemon returns it, with `overrides` applied. */
export function volumeFixture(overrides: Partial<Volume> = {}): Volume {
  return {
    id: "vol_1",
    slug: "data",
    region: "local",
    status: "ready",
    failureReason: null,
    capacity: 10_000_000_000,
    usedBytes: 0,
    estimatedAllocatedSize: 0,
    estimatedFlattenedSize: 0,
    bootable: false,
    base: null,
    attachedTo: null,
    createdAt: "2025-01-01T00:00:00.000Z",
    ...overrides,
  };
}

/** The builtin image as the daemon returns it, with `overrides` applied. */
export function imageFixture(overrides: Partial<Image> = {}): Image {
  return {
    name: "builtin:debian-13",
    status: "building",
    phase: "starting",
    failureReason: null,
    sizeBytes: null,
    builtAt: null,
    ...overrides,
  };
}

/** A sandbox as the daemon returns it, with `overrides` applied. */
export function sandboxFixture(overrides: Partial<Sandbox> = {}): Sandbox {
  return {
    id: "sbx_0123456789abcdefghij",
    region: "local",
    status: "ready",
    stopReason: null,
    root: { kind: "image", image: "builtin:debian-13" },
    volumes: [],
    labels: {},
    memory: 1024 ** 3,
    cpus: 1,
    runtime: "crun",
    port: null,
    url: null,
    allowNet: null,
    createdAt: "2025-01-01T00:00:00.000Z",
    stoppedAt: null,
    expiresAt: null,
    template: { kind: "image", image: "builtin:debian-13" },
    persistent: false,
    diskBytes: null,
    startable: false,
    snapshotMode: "manual",
    snapshotFrequency: null,
    snapshotKeep: null,
    ...overrides,
  };
}

/** A snapshot of a sandbox as the daemon returns it, with `overrides` applied. */
export function snapshotFixture(overrides: Partial<Snapshot> = {}): Snapshot {
  return {
    id: "snp_1",
    slug: "snap-1",
    region: "local",
    status: "ready",
    failureReason: null,
    volume: null,
    allocatedSize: 0,
    flattenedSize: 0,
    bootable: true,
    createdAt: "2025-01-01T00:00:00.000Z",
    kind: "sandbox",
    source: { kind: "sandbox", sandbox: "sbx_0123456789abcdefghij" },
    template: { kind: "image", image: "builtin:debian-13" },
    sizeBytes: 50_000_000,
    automatic: false,
    protected: false,
    expiresAt: null,
    settledAt: "2025-01-01T00:00:01.000Z",
    ...overrides,
  };
}

/** An event as the daemon returns it, with `overrides` applied. */
export function eventFixture(overrides: Partial<Event> = {}): Event {
  return {
    id: "evt_1",
    type: "sandbox.paused",
    sandbox: "sbx_0123456789abcdefghij",
    snapshot: null,
    message: "Paused",
    createdAt: "2025-01-01T00:00:00.000Z",
    ...overrides,
  };
}

/** The answer of `POST /exec` for a command that printed `stdout` and `stderr`. */
export function execReply(
  init: { exitCode?: number | null; signal?: string | null; stdout?: string; stderr?: string } = {},
): Reply {
  const result: ExecResult = {
    exitCode: init.exitCode === undefined ? 0 : init.exitCode,
    signal: init.signal ?? null,
    stdout: Buffer.from(init.stdout ?? "").toString("base64"),
    stderr: Buffer.from(init.stderr ?? "").toString("base64"),
    truncated: false,
  };
  return { json: result };
}
