import type { FastifyReply, FastifyRequest } from "fastify";
import { StrataError } from "../errors.ts";
import type { HttpServices } from "./http-services.ts";

/** Requires `Authorization: Bearer <token>` on every route not marked `config.public`. */
export function authHook(auth: HttpServices["auth"]) {
  return async (request: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    if (request.routeOptions.config?.public === true) return;
    if (request.routeOptions.url === undefined) return; // unknown route: answered by the 404 handler
    const header =
      request.headers.authorization ?? protocolToken(request.headers["sec-websocket-protocol"]);
    if (!header)
      throw new StrataError(
        "unauthenticated",
        'Missing Authorization header: send "Authorization: Bearer <token>"',
      );
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (!m)
      throw new StrataError(
        "unauthenticated",
        'Malformed Authorization header: expected "Bearer <token>"',
      );
    const principal = auth.authenticate(m[1]!);
    if (!principal)
      throw new StrataError("unauthenticated", "Invalid token: no organisation has this token");
    request.orgId = principal.orgId;
  };
}

/**
 * Browsers cannot set headers on a WebSocket, so the exec socket also takes the token as a
 * subprotocol: `new WebSocket(url, ["strata.v1", "strata.bearer.<token>"])`.
 */
function protocolToken(header: string | undefined): string | undefined {
  const token = header
    ?.split(",")
    .map((p) => p.trim())
    .find((p) => p.startsWith("strata.bearer."))
    ?.slice("strata.bearer.".length);
  return token ? `Bearer ${token}` : undefined;
}
