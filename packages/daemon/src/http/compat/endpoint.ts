import type { IncomingMessage } from "node:http";
import type { SandboxCreate } from "@strata/api";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { type WebSocket, WebSocketServer } from "ws";
import { z } from "zod";
import { q, StrataError } from "../../errors.ts";
import { toErrorResponse } from "../errors.ts";
import { fromDenoId, toDenoId } from "./ids.ts";
import type { Registry, SandboxState } from "./lifecycle.ts";
import { Connection, type Handler } from "./session.ts";
import type { StrataPort } from "./strata.ts";
import { decodeConfig, MAX_FRAME_BYTES, type SandboxConfig } from "./wire.ts";

/**
 * The sandbox endpoint of the official client (`/api/v3`): the WebSocket that creates or
 * connects to a sandbox and carries its JSON-RPC, and the REST calls kill, extend and
 * expose. Everything is validated (and the sandbox created) before the 101, so a bad
 * request is a plain HTTP error the client reports as `ConnectionEstablishmentError`.
 */

const kSandbox = Symbol("deno-sandbox-id");
type Upgrading = IncomingMessage & { [kSandbox]?: string };

export interface EndpointOptions {
  port: StrataPort;
  registry: Registry;
  methods: Record<string, Handler>;
  tag: string;
  org: (req: FastifyRequest) => string;
  /** The host (and port) at which the daemon's proxy serves a sandbox's exposed port. */
  sandboxHost: (strataId: string) => string;
}

/** A Deno sandbox config → Strata's create input; what Strata does not offer is refused. */
export function createInput(config: SandboxConfig, now = Date.now()): SandboxCreate {
  if (config.secrets && Object.keys(config.secrets).length > 0)
    throw new StrataError(
      "not_supported",
      `Strata does not offer secrets on the wire (asked for ${q(Object.keys(config.secrets).join(", "))}): the sandbox was not started, so nothing would see the secret in plain text`,
    );
  const input: SandboxCreate = {};
  if (config.memory_mb != null) input.memory = config.memory_mb * 1024 * 1024;
  if (config.stop_at_ms != null) {
    const seconds = Math.ceil((config.stop_at_ms - now) / 1000);
    if (seconds <= 0)
      throw new StrataError(
        "invalid_timeout",
        `Invalid stop_at_ms ${q(config.stop_at_ms)}: it is not in the future`,
      );
    input.timeout = `${seconds}s`;
  }
  if (config.labels) input.labels = config.labels;
  if (config.root) input.root = config.root.volume;
  if (config.volumes?.length) {
    input.volumes = {};
    for (const m of config.volumes) {
      if (Object.hasOwn(input.volumes, m.path))
        throw new StrataError("invalid_mount_path", `Mount path ${q(m.path)} is given twice`);
      input.volumes[m.path] = m.volume;
    }
  }
  if (config.allow_net) input.allowNet = config.allow_net;
  return input;
}

const ExtendBody = z.object({ stop_at_ms: z.number().int().positive() });

export async function endpointRoutes(app: FastifyInstance, o: EndpointOptions): Promise<void> {
  const { port, registry } = o;
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_FRAME_BYTES,
    perMessageDeflate: false,
  });
  wss.on("headers", (headers, req: Upgrading) => {
    if (req[kSandbox]) headers.push(`x-deno-sandbox-id: ${req[kSandbox]}`);
  });
  // Before the server closes: it waits for every connection, upgraded ones included.
  app.addHook("preClose", async () => {
    registry.close();
    for (const ws of wss.clients) ws.terminate();
    wss.close();
  });

  /** The Strata id of a sandbox of the request's organisation. */
  const sandboxOf = async (req: FastifyRequest): Promise<{ orgId: string; id: string }> => {
    const orgId = o.org(req);
    const raw = (req.params as { id?: unknown }).id;
    const id = typeof raw === "string" ? fromDenoId(raw, o.tag) : undefined;
    if (!id)
      throw new StrataError(
        "sandbox_not_found",
        `Sandbox ${q(raw)} not found: not a sandbox id of this region`,
      );
    await port.getSandbox(orgId, id);
    return { orgId, id };
  };

  const upgrade = (
    req: FastifyRequest,
    reply: FastifyReply,
    st: SandboxState,
    primary: boolean,
  ) => {
    const raw = req.raw as Upgrading;
    raw[kSandbox] = toDenoId(st.id, o.tag);
    reply.hijack();
    // Nothing follows the handshake before the 101 from a WebSocket client, so the head is empty.
    wss.handleUpgrade(raw, raw.socket, Buffer.alloc(0), (ws: WebSocket) => {
      new Connection(ws, st, { port, methods: o.methods, log: req.log });
      registry.attach(st, ws, { primary });
      ws.on("error", () => ws.terminate());
    });
  };

  const needsUpgrade = (req: FastifyRequest) => {
    if (req.headers.upgrade?.toLowerCase() !== "websocket")
      throw new StrataError(
        "invalid_request",
        "Invalid request: this endpoint expects a WebSocket upgrade",
      );
  };

  app.get("/api/v3/sandboxes/create", async (req, reply) => {
    needsUpgrade(req);
    const orgId = o.org(req);
    const header = req.headers["x-deno-sandbox-config"];
    if (typeof header !== "string")
      throw new StrataError(
        "invalid_request",
        "Invalid request: the x-deno-sandbox-config header is missing",
      );
    const config = decodeConfig(header);
    if (typeof config === "string")
      throw new StrataError("invalid_request", `Invalid request: ${config}`);
    const input = createInput(config);
    const create = () => port.createSandbox(orgId, input);
    const sandbox = await create().catch(async (err: unknown) => {
      // The client's close() resolves before the daemon has ended the sandbox it closed:
      // a volume that sandbox held is released in a moment.
      if (!(err instanceof StrataError) || err.code !== "volume_in_use") throw err;
      const refs = [input.root, ...Object.values(input.volumes ?? {})].filter(
        (r) => r !== undefined,
      );
      let retry = false;
      for (const ref of refs) retry = (await registry.released(orgId, ref)) || retry;
      if (!retry) throw err;
      return create();
    });
    const st = registry.state(orgId, sandbox.id);
    if (req.raw.socket.destroyed) {
      // The client left during the create: nothing may stay behind.
      await port.killSandbox(orgId, sandbox.id).catch(() => {});
      return reply.hijack();
    }
    upgrade(req, reply, st, input.timeout === undefined);
  });

  app.get("/api/v3/sandbox/:id/connect", async (req, reply) => {
    needsUpgrade(req);
    const { orgId, id } = await sandboxOf(req);
    const sandbox = await port.getSandbox(orgId, id);
    if (sandbox.status !== "ready" && sandbox.status !== "paused")
      throw new StrataError(
        "sandbox_not_running",
        `Cannot connect to sandbox ${q(req.params)}: it is ${sandbox.status}`,
      );
    upgrade(req, reply, registry.state(orgId, id), false);
  });

  app.delete("/api/v3/sandbox/:id", async (req, reply) => {
    const { orgId, id } = await sandboxOf(req);
    await registry.end(registry.state(orgId, id), "sandbox killed");
    return reply.status(204).send();
  });

  app.patch("/api/v3/sandbox/:id", async (req) => {
    const { orgId, id } = await sandboxOf(req);
    const { stop_at_ms } = ExtendBody.parse(req.body);
    const sandbox = await port.extendSandbox(orgId, id, stop_at_ms);
    return { stop_at_ms: Date.parse(sandbox.expiresAt ?? "") || stop_at_ms };
  });

  app.post("/api/v3/sandbox/:id/expose/http", async (req) => {
    const { id } = await sandboxOf(req);
    return { domain: o.sandboxHost(id) };
  });
  for (const what of ["ssh", "vscode"] as const) {
    app.post(`/api/v3/sandbox/:id/expose/${what}`, async (req) => {
      await sandboxOf(req);
      throw new StrataError(
        "not_supported",
        what === "ssh"
          ? "Strata does not offer SSH into sandboxes: use sandbox.sh or sandbox.spawn"
          : "Strata does not offer VS Code in sandboxes",
      );
    });
  }
}

/**
 * The error body of a compat route: Strata's code and message, except that a bad token is
 * `INVALID_TOKEN` on the sandbox endpoint, the code the client turns into InvalidTokenError.
 */
export function compatError(
  err: unknown,
  req: FastifyRequest,
): { status: number; body: object; internal: boolean } {
  const r =
    err instanceof z.ZodError
      ? toErrorResponse(
          new StrataError(
            "invalid_request",
            `Invalid request: ${err.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; ")}`,
          ),
          req.id,
        )
      : toErrorResponse(err, req.id);
  const body = { ...r.body } as { code: string };
  if (body.code === "unauthenticated" && req.url.startsWith("/api/v3/"))
    body.code = "INVALID_TOKEN";
  return { status: r.status, body, internal: r.internal };
}
