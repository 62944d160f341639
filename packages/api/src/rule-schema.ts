import type { z } from "zod";
import type { ErrorCode } from "./errors.ts";
import type { RuleFailure } from "./rules.ts";

/** The zod issue param that carries a broken rule's catalogue code. */
export const RULE_CODE_PARAM = "errorCode";

/**
 * Applies a rule of `@strata/api/rules` to a schema, before any check chained after it:
 * when the rule fails, the issue carries the rule's code (`params.errorCode`) and message
 * and the checks after it do not run. Chain `.min()`, `.max()`, `.regex()` after it to
 * document the rule in JSON Schema; the rule implies them, so they never fail on their own.
 * A value of the wrong type fails before the rule, as a plain zod issue.
 *
 * @example
 * ```ts
 * const Slug = withRule(z.string(), checkSlug).min(2).max(63).regex(NAME_PATTERN);
 * ```
 */
export function withRule<T extends z.ZodType>(
  schema: T,
  check: (value: z.output<T>) => RuleFailure | undefined,
): T {
  return schema.check((ctx) => {
    const failure = check(ctx.value as z.output<T>);
    if (failure)
      ctx.issues.push({
        code: "custom",
        input: ctx.value,
        message: failure.message,
        params: { [RULE_CODE_PARAM]: failure.code },
        continue: false,
      });
  }) as T;
}

/**
 * The broken rule behind a failed validation, when every issue is one (then the API
 * answers with the rule's code and message, as for any other broken rule); `undefined`
 * when some issue is not (a wrong type, an unknown field: `invalid_request`).
 */
export function ruleFailureOf(
  issues: readonly { params?: Record<string, unknown> | undefined; message: string }[],
): RuleFailure | undefined {
  const codes = issues.map((i) => i.params?.[RULE_CODE_PARAM]);
  if (issues.length === 0 || !codes.every((c) => typeof c === "string")) return undefined;
  return { code: codes[0] as ErrorCode, message: issues[0]!.message };
}
