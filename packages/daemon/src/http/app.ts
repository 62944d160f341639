import swagger from "@fastify/swagger";
import websocket from "@fastify/websocket";
import { API_VERSION } from "@strata/api";
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import {
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
} from "fastify-type-provider-zod";
import { newId } from "../lib/ids.ts";
import { authHook } from "./auth.ts";
import { bodyLimitHook, JSON_BODY_LIMIT } from "./body-limit.ts";
import { denoCompat } from "./compat/index.ts";
import { toErrorResponse } from "./errors.ts";
import type { HttpServices } from "./http-services.ts";
import { execWsRoute } from "./routes/exec-ws.ts";
import { fileRoutes } from "./routes/files.ts";
import { healthRoutes } from "./routes/health.ts";
import { imageRoutes } from "./routes/images.ts";
import { orgRoutes } from "./routes/org.ts";
import { sandboxRoutes } from "./routes/sandboxes.ts";
import { snapshotFileRoutes } from "./routes/snapshot-files.ts";
import { snapshotRoutes } from "./routes/snapshots.ts";
import { volumeRoutes } from "./routes/volumes.ts";

export interface AppOptions {
  /** The services the routes call (`Services` from the composition root satisfies it). */
  services: HttpServices;
  logger: FastifyBaseLogger;
  version: string;
  region: string;
  /**
   * The host (and port) at which the port proxy serves a sandbox's exposed port, for the
   * Deno API's `sandbox.url`; `<id>.localhost` when not given.
   */
  sandboxHost?: (sandboxId: string) => string;
}

declare module "fastify" {
  interface FastifyRequest {
    /** The organisation the request acts for (set by the auth hook). */
    orgId: string;
  }
  interface FastifyContextConfig {
    /** Routes that answer without a token. */
    public?: boolean;
  }
}

/**
 * Builds the HTTP API as a value: tests call it in process with `app.inject()`; `main.ts`
 * wires the real services and listens.
 */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: options.logger,
    genReqId: () => newId("req"),
    bodyLimit: JSON_BODY_LIMIT,
    // The daemon answers on one address, so trust the Host header to build Link URLs.
    trustProxy: false,
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.decorateRequest("orgId", "");
  // Clients often send `content-type: application/json` on bodiless DELETEs; an empty body is
  // "no body", not malformed JSON. Anything else goes through Fastify's own safe parser.
  const json = app.getDefaultJsonParser("error", "error");
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (req, body, done) => {
    if (body === "") done(null, undefined);
    else json(req, body as string, done);
  });

  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "Strata API",
        version: options.version,
        description: "Self-hosted sandboxes, volumes and snapshots",
      },
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });

  // The Deno-compatible API upgrades its own sockets: it goes before @fastify/websocket,
  // which takes over the upgrades of every route registered after it.
  await app.register((compat) =>
    denoCompat(compat, {
      services: options.services,
      region: options.region,
      sandboxHost: options.sandboxHost ?? ((id) => `${id.replace(/^sbx_/, "")}.localhost`),
    }),
  );
  await app.register(websocket, {
    options: {
      maxPayload: 1024 * 1024,
      // A client that sent its token as a subprotocol must get one protocol back.
      handleProtocols: (protocols: Set<string>) =>
        protocols.has("strata.v1") ? "strata.v1" : false,
    },
  });
  app.addHook("onRequest", async (request, reply) => {
    reply.header("x-request-id", request.id);
  });
  app.addHook("onRequest", authHook(options.services.auth));
  app.addHook("preParsing", bodyLimitHook());

  app.setErrorHandler((err, request, reply) => {
    const { status, body, internal } = toErrorResponse(err, request.id);
    if (internal) request.log.error({ err }, "Request failed");
    if (status === 401) reply.header("www-authenticate", 'Bearer realm="strata"');
    return reply.status(status).send(body);
  });
  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send({
      code: "not_found",
      message: `No route for ${request.method} ${request.url.split("?")[0]}`,
      requestId: request.id,
    }),
  );

  await app.register(
    async (v1) => {
      await healthRoutes(v1, options);
      await volumeRoutes(v1, options.services);
      await snapshotRoutes(v1, options.services);
      await snapshotFileRoutes(v1, options.services);
      await imageRoutes(v1, options.services);
      await sandboxRoutes(v1, options.services);
      await orgRoutes(v1, options.services);
      await fileRoutes(v1, options.services);
      await execWsRoute(v1, options.services);
    },
    { prefix: `/${API_VERSION}` },
  );
  app.get("/v1/openapi.json", { config: { public: true }, schema: { hide: true } }, async () =>
    app.swagger(),
  );
  return app;
}
