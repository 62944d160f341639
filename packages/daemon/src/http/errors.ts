import { type ApiErrorBody, KIND_STATUS, ruleFailureOf } from "@strata/api";
import type { FastifyError } from "fastify";
import { hasZodFastifySchemaValidationErrors } from "fastify-type-provider-zod";
import { StrataError } from "../errors.ts";
import { fromDriverError } from "../service/driver-errors.ts";

/**
 * The one place that maps errors to HTTP:
 *
 * - a StrataError's kind picks the status;
 * - a typed driver or runtime error (a sandbox that did not start, a full pool, a layer
 *   deleted meanwhile) becomes its StrataError first (`service/driver-errors.ts`);
 * - a schema failure whose every issue is a broken rule of `@strata/api/rules` answers
 *   with the first rule's code and message (`invalid_slug`, `invalid_port`, ...), exactly
 *   as if a service had found it; any other schema failure (a wrong type, an unknown
 *   field) and Fastify's own 4xx errors are `invalid_request`, with per-field details;
 * - a body over the route's limit is `payload_too_large` (413);
 * - anything else is an `internal` 500 whose details stay in the log.
 */
export function toErrorResponse(
  err: unknown,
  requestId: string,
): { status: number; body: ApiErrorBody; internal: boolean } {
  const known = err instanceof StrataError ? err : (fromDriverError(err) ?? fromSchema(err));
  if (known) {
    const body: ApiErrorBody = { code: known.code, message: known.message, requestId };
    if (known.details) body.details = known.details;
    if (known.errno) body.errno = known.errno;
    return { status: KIND_STATUS[known.kind], body, internal: false };
  }
  const fe = err as Partial<FastifyError>;
  if (fe.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
    return {
      status: 413,
      body: {
        code: "payload_too_large",
        message: "Request body is too large for this route",
        requestId,
      },
      internal: false,
    };
  }
  if (typeof fe.statusCode === "number" && fe.statusCode >= 400 && fe.statusCode < 500) {
    return {
      status: 400,
      body: {
        code: "invalid_request",
        message: `Invalid request: ${fe.message ?? "malformed"}`,
        requestId,
      },
      internal: false,
    };
  }
  return {
    status: 500,
    body: {
      code: "internal",
      message: `Internal error while handling the request; the daemon log has details under ${requestId}`,
      requestId,
    },
    internal: true,
  };
}

/** A failed schema validation as a StrataError: the broken rule's, or `invalid_request`. */
function fromSchema(err: unknown): StrataError | undefined {
  if (!hasZodFastifySchemaValidationErrors(err)) return undefined;
  const rule = ruleFailureOf(
    err.validation.map((v) => ({
      params: (v.params as { params?: Record<string, unknown> } | undefined)?.params,
      message: v.message ?? "is invalid",
    })),
  );
  if (rule) return new StrataError(rule.code, rule.message);
  const details = err.validation.map((v) => ({
    path: [
      err.validationContext ?? "body",
      ...String(v.instancePath).split("/").filter(Boolean),
    ].join("."),
    message: v.message ?? "is invalid",
  }));
  const summary = details.map((d) => `${d.path}: ${d.message}`).join("; ");
  return new StrataError("invalid_request", `Invalid request: ${summary}`, { details });
}
