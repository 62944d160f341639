import { StrataError } from "./errors.ts";

/** A value `sandbox.sh` can interpolate: scalars, or arrays of them (several words). */
export type ShellValue =
  | string
  | number
  | boolean
  | bigint
  | null
  | undefined
  | readonly ShellValue[];

/** Words that mean the same to a POSIX shell quoted or not. */
const SAFE_WORD = /^[A-Za-z0-9_/.-]+$/;

/**
 * Quotes one value as a single shell word. Safe words (letters, digits, `_ / . -`) pass
 * verbatim; anything else is wrapped in single quotes, with `'` written as `'"'"'`.
 * `null`, `undefined` and `""` become `''`. Arrays become several words, separated by spaces.
 *
 * Unlike `@deno/sandbox`, a backslash is quoted: unquoted, the shell would eat it.
 *
 * @example
 * ```ts
 * escapeShellArg("it's $HOME"); // `'it'"'"'s $HOME'`
 * escapeShellArg(["a b", "c"]); // `'a b' c`
 * ```
 */
export function escapeShellArg(value: ShellValue): string {
  if (Array.isArray(value)) return value.map((v) => escapeShellArg(v)).join(" ");
  if (value === null || value === undefined) return "''";
  if (typeof value === "object") {
    throw new StrataError(
      "invalid_argument",
      "Cannot use an object as a shell argument: interpolate strings, numbers or arrays of them",
    );
  }
  const text = String(value);
  if (text === "") return "''";
  if (SAFE_WORD.test(text)) return text;
  return `'${text.replaceAll("'", `'"'"'`)}'`;
}

/**
 * Builds a command line from a tagged template: the literal parts are kept as written,
 * each interpolated value is quoted with {@link escapeShellArg}.
 *
 * @example
 * ```ts
 * const file = "my notes.txt";
 * buildCommand`cat ${file} | wc -l`; // "cat 'my notes.txt' | wc -l"
 * ```
 */
export function buildCommand(strings: TemplateStringsArray, ...values: ShellValue[]): string {
  let out = "";
  for (let i = 0; i < strings.length; i++) {
    // An invalid escape (`\u` alone) has no cooked form; the raw text is what was typed.
    out += strings[i] ?? strings.raw[i] ?? "";
    if (i < values.length) out += escapeShellArg(values[i]);
  }
  return out;
}
