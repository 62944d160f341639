import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import type { Image, Volume } from "@strata/api";

/** A request the fake daemon received. */
export interface SeenRequest {
  method: string;
  url: URL;
  headers: IncomingHttpHeaders;
  body: unknown;
}

/** What a route handler answers: a JSON body, or raw text. */
export interface Reply {
  status?: number;
  json?: unknown;
  text?: string;
  headers?: Record<string, string>;
}

/** An in-process HTTP server on 127.0.0.1 and a free port, for tests of HTTP clients. */
export interface FakeDaemon extends AsyncDisposable {
  /** `http://127.0.0.1:<port>` */
  url: string;
  requests: SeenRequest[];
  close(): Promise<void>;
}

/** Starts a server that records each request and answers with `handler`'s reply. */
export async function startFakeDaemon(
  handler: (req: SeenRequest) => Reply | Promise<Reply>,
): Promise<FakeDaemon> {
  const requests: SeenRequest[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString("utf8");
    const seen: SeenRequest = {
      method: req.method ?? "GET",
      url: new URL(req.url ?? "/", `http://${req.headers.host}`),
      headers: req.headers,
      body: raw ? JSON.parse(raw) : undefined,
    };
    requests.push(seen);
    try {
      const reply = await handler(seen);
      const body = reply.text ?? (reply.json === undefined ? "" : JSON.stringify(reply.json));
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
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const close = () =>
    new Promise<void>((resolve, reject) => {
      server.closeAllConnections();
      server.close((err) => (err ? reject(err) : resolve()));
    });
  return { url: `http://127.0.0.1:${port}`, requests, close, [Symbol.asyncDispose]: close };
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
