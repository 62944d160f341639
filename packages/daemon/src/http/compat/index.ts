import type { FastifyInstance } from "fastify";
import { StrataError } from "../../errors.ts";
import type { HttpServices } from "../http-services.ts";
import { consoleRoutes } from "./console.ts";
import { compatError, endpointRoutes } from "./endpoint.ts";
import { regionTag } from "./ids.ts";
import { Registry } from "./lifecycle.ts";
import { sandboxMethods } from "./methods.ts";
import { strataPort } from "./strata.ts";

export interface DenoCompatOptions {
  services: HttpServices;
  region: string;
  /** The host (and port) at which the daemon's proxy serves a sandbox's exposed port. */
  sandboxHost: (strataId: string) => string;
}

/**
 * The API of the official `@deno/sandbox` client, on the daemon's listen address: the
 * console (`/api/v2`) and the sandbox endpoint (`/api/v3`). Register it before
 * `@fastify/websocket`: the endpoint upgrades its own sockets (with a larger frame limit
 * than Strata's exec socket), after validating and creating the sandbox.
 *
 * Authentication: `Authorization: Bearer <Strata token>`; `X-Deno-Org`, when sent, must
 * be the name of the token's organisation.
 */
export async function denoCompat(app: FastifyInstance, options: DenoCompatOptions): Promise<void> {
  const port = strataPort(options.services, options.region);
  const tag = regionTag(options.region);
  const registry = new Registry(port, app.log);
  app.setErrorHandler((err, req, reply) => {
    const { status, body, internal } = compatError(err, req);
    if (internal) req.log.error({ err }, "Deno API request failed");
    return reply.status(status).send(body);
  });
  app.addHook("onRequest", async (req, reply) => {
    reply.header("x-request-id", req.id);
    // A refused WebSocket upgrade is answered over the raw socket, which no HTTP parser
    // owns any more: close it once the answer is out (an upgrade that succeeds hijacks
    // the reply and never finishes it).
    if (req.headers.upgrade !== undefined) {
      reply.header("connection", "close");
      reply.raw.once("finish", () => req.raw.socket.end());
    }
    const auth = req.headers.authorization;
    const m = auth === undefined ? undefined : /^Bearer\s+(\S{1,512})$/i.exec(auth);
    if (auth !== undefined && !m)
      throw new StrataError(
        "unauthenticated",
        'Malformed Authorization header: expected "Bearer <token>"',
      );
    const org = req.headers["x-deno-org"];
    req.orgId = port.authenticate(m?.[1], typeof org === "string" ? org : undefined);
  });
  const org = (req: { orgId: string }) => req.orgId;
  const methods = sandboxMethods({ tag, sandboxHost: options.sandboxHost });
  await consoleRoutes(app, { port, registry, tag, org });
  await endpointRoutes(app, {
    port,
    registry,
    methods,
    tag,
    org,
    sandboxHost: options.sandboxHost,
  });
}
