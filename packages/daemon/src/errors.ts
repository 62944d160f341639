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
  /** For file errors: the errno name reported inside the sandbox. */
  readonly errno: string | undefined;
  constructor(
    code: ErrorCode,
    message: string,
    options: {
      cause?: unknown;
      details?: { path: string; message: string }[];
      errno?: string;
    } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "StrataError";
    this.code = code;
    this.kind = kindOf(code);
    this.details = options.details;
    this.errno = options.errno;
  }
}

/** Quotes a user-supplied value for an error message. */
export function q(value: unknown): string {
  return JSON.stringify(value);
}
