import { type ApiErrorBody, KIND_STATUS } from "@strata/api";
import type { FastifyError } from "fastify";
import { hasZodFastifySchemaValidationErrors } from "fastify-type-provider-zod";
import { StrataError } from "../errors.ts";

/**
 * The one place that maps errors to HTTP: a StrataError's kind picks the status; schema
 * validation and Fastify's own 4xx errors become `invalid_request`; anything else is an
 * `internal` 500 whose details stay in the log.
 */
export function toErrorResponse(
  err: unknown,
  requestId: string,
): { status: number; body: ApiErrorBody; internal: boolean } {
  if (err instanceof StrataError) {
    const body: ApiErrorBody = { code: err.code, message: err.message, requestId };
    if (err.details) body.details = err.details;
    if (err.errno) body.errno = err.errno;
    return { status: KIND_STATUS[err.kind], body, internal: false };
  }
  if (hasZodFastifySchemaValidationErrors(err)) {
    const details = err.validation.map((v) => ({
      path: [
        err.validationContext ?? "body",
        ...String(v.instancePath).split("/").filter(Boolean),
      ].join("."),
      message: v.message ?? "is invalid",
    }));
    const summary = details.map((d) => `${d.path}: ${d.message}`).join("; ");
    return {
      status: 400,
      body: { code: "invalid_request", message: `Invalid request: ${summary}`, requestId, details },
      internal: false,
    };
  }
  const fe = err as Partial<FastifyError>;
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
