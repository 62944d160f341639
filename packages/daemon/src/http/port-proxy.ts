import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createTlsServer } from "node:https";
import { createServer as createNetServer, type Server as NetServer } from "node:net";
import type { Duplex } from "node:stream";
import { ProxyServer } from "http-proxy-3";
import type { ProxyTls } from "./proxy-tls.ts";

/** Where a request for a sandbox's port goes, or undefined when nothing is exposed there. */
export type PortResolver = (
  sandboxHostId: string,
  /** Undefined for a host name without a port (`<id>.<baseDomain>`): the sandbox's exposed port. */
  port: number | undefined,
) => { address: string; port: number } | undefined;

export interface PortProxyOptions {
  host: string;
  port: number;
  /** Sandbox URLs are `http://<id>-<port>.<baseDomain>:<proxy port>/`. */
  baseDomain: string;
  resolve: PortResolver;
  log: { warn(obj: object, msg: string): void };
  /** Also answer TLS on the same port (a first byte of 0x16), with these certificates. */
  tls?: ProxyTls;
}

/**
 * Parses `<id>-<port>.<baseDomain>[:port]` from a Host header, or `<id>.<baseDomain>`
 * (the sandbox's exposed port, whichever it is: port undefined).
 */
export function parseSandboxHost(
  host: string | undefined,
  baseDomain: string,
): { id: string; port: number | undefined } | undefined {
  if (!host) return undefined;
  const name = host.replace(/:\d+$/, "").toLowerCase();
  const suffix = `.${baseDomain.toLowerCase()}`;
  if (!name.endsWith(suffix)) return undefined;
  const m = /^([0-9a-z]{20})(?:-(\d{1,5}))?$/.exec(name.slice(0, -suffix.length));
  if (!m) return undefined;
  if (m[2] === undefined) return { id: m[1]!, port: undefined };
  const port = Number(m[2]);
  return port >= 1 && port <= 65535 ? { id: m[1]!, port } : undefined;
}

/** The public URL of a sandbox port behind the proxy. */
export function sandboxUrl(
  options: { baseDomain: string; proxyPort: number },
  sandboxId: string,
  port: number,
): string {
  return `http://${sandboxId.replace(/^sbx_/, "")}-${port}.${options.baseDomain}:${options.proxyPort}/`;
}

/** The host (with the proxy's port) that serves a sandbox's exposed port, whichever it is. */
export function sandboxHost(
  options: { baseDomain: string; proxyPort: number },
  sandboxId: string,
): string {
  return `${sandboxId.replace(/^sbx_/, "")}.${options.baseDomain}:${options.proxyPort}`;
}

/**
 * The reverse proxy in front of sandbox ports: routes by host name, streams requests and
 * responses, and passes WebSocket upgrades through.
 */
export async function startPortProxy(
  options: PortProxyOptions,
): Promise<{ server: NetServer; port: number; close(): Promise<void> }> {
  const proxy = new ProxyServer({ xfwd: true, ws: true });
  proxy.on("error", (err: Error, _req: IncomingMessage, res: ServerResponse | Duplex) => {
    options.log.warn({ err: err.message }, "Port proxy could not reach a sandbox");
    if ("writeHead" in res && !res.headersSent) {
      res.writeHead(503, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          code: "sandbox_port_unreachable",
          message: `Nothing answered in the sandbox: ${err.message}`,
        }),
      );
    } else res.destroy();
  });
  const target = (req: IncomingMessage) => {
    // `x-strata-sandbox: <id>-<port>` for clients that cannot resolve *.localhost or set Host (fetch).
    const explicit = req.headers["x-strata-sandbox"];
    const parsed =
      typeof explicit === "string"
        ? parseSandboxHost(`${explicit}.${options.baseDomain}`, options.baseDomain)
        : parseSandboxHost(req.headers.host, options.baseDomain);
    const t = parsed && options.resolve(parsed.id, parsed.port);
    return t ? `http://${t.address}:${t.port}` : undefined;
  };
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const t = target(req);
    if (!t) {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          code: "not_found",
          message: `No running sandbox exposes ${JSON.stringify(req.headers.host ?? "")}`,
        }),
      );
      return;
    }
    proxy.web(req, res, { target: t });
  };
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const t = target(req);
    if (!t) {
      socket.end("HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
      return;
    }
    proxy.ws(req, socket, head, { target: t });
  };
  const plain: Server = createServer(onRequest).on("upgrade", onUpgrade);
  const tls = options.tls;
  const secure =
    tls &&
    createTlsServer(
      {
        SNICallback: (name, cb) =>
          tls.contextFor(name).then(
            (ctx) => cb(null, ctx),
            (err: Error) => cb(err, undefined),
          ),
      },
      onRequest,
    ).on("upgrade", onUpgrade);
  // One port for both: a TLS connection starts with a handshake record (0x16), HTTP with a
  // method name. The first chunk is put back before the right server takes the socket.
  const sockets = new Set<Duplex>();
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    socket.once("data", (first: Buffer) => {
      socket.pause();
      socket.unshift(first);
      (first[0] === 0x16 && secure ? secure : plain).emit("connection", socket);
      process.nextTick(() => socket.resume());
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address();
  return {
    server,
    port: typeof address === "object" && address ? address.port : options.port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
