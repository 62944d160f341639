import { type ErrorCode, type ErrorKind, kindOf } from "@strata/api";

/**
 * The one error type services throw for anything the caller can act on. Its code comes
 * from the API's catalogue; the HTTP layer maps its kind to a status.
 *
 * Messages say what failed, then why, quoting the offending value:
 * `Cannot attach volume "data": it is already attached to sandbox sbx_123`.
 */
export class StrataError extends Error {
  readonly code: ErrorCode;
  readonly kind: ErrorKind;
  readonly details: { path: string; message: string }[] | undefined;
  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; details?: { path: string; message: string }[] } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "StrataError";
    this.code = code;
    this.kind = kindOf(code);
    this.details = options.details;
  }
}

/** Quotes a user-supplied value for an error message. */
export function q(value: unknown): string {
  return JSON.stringify(value);
}
