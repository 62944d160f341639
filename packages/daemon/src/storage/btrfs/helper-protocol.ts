/**
 * Pure encoding of the btrfs helper's line protocol (docs/btrfs-helper.md): one request
 * per line, `<id> TAB <op> TAB <arg>...`, answered by `<id> TAB ok [TAB <value>]` or
 * `<id> TAB err TAB <errno> TAB <message>`, in completion order.
 */
import { constants } from "node:os";

export type HelperOp =
  | "snap"
  | "subvol"
  | "destroy"
  | "limit"
  | "readonly"
  | "sync"
  | "quota"
  | "usage";

/** Longest request line the helper accepts, LF included. */
export const MAX_REQUEST_BYTES = 16384;
/** Most arguments the helper accepts in one request (`usage` takes one per path). */
export const MAX_ARGS = 256;

export type HelperAnswer =
  /** `value`: what the op answers besides ok (`snap`, `quota`, `usage`), else "". */
  | { id: number; ok: true; value: string }
  | { id: number; ok: false; errno: number; code: string; message: string };

const ERRNO_NAMES = new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/** The errno name of a Linux errno number (`ENOENT`), or `E<n>` for one Node does not know. */
export function errnoName(n: number): string {
  return ERRNO_NAMES.get(n) ?? `E${n}`;
}

/**
 * One request line. Arguments are paths and numbers that the driver builds from its root
 * and opaque ids; a TAB, LF or NUL in one cannot be framed, so it is refused here.
 */
export function encodeRequest(id: number, op: HelperOp, args: readonly string[]): string {
  for (const a of args) {
    if (/[\t\n\0]/.test(a))
      throw new Error(
        `Cannot send ${JSON.stringify(a)} to the btrfs helper: it contains a TAB, LF or NUL`,
      );
  }
  const line = `${[String(id), op, ...args].join("\t")}\n`;
  if (Buffer.byteLength(line) > MAX_REQUEST_BYTES)
    throw new Error(`Cannot send a ${op} request to the btrfs helper: its paths are too long`);
  return line;
}

/** Parses one answer line (without its LF); throws on anything the helper never sends. */
export function parseAnswer(line: string): HelperAnswer {
  const f = line.split("\t");
  const id = Number(f[0]);
  if (!/^[0-9]+$/.test(f[0] ?? "") || !Number.isSafeInteger(id))
    throw new Error(`Malformed answer from the btrfs helper: ${JSON.stringify(line)}`);
  if (f[1] === "ok" && f.length === 2) return { id, ok: true, value: "" };
  if (f[1] === "ok" && f.length === 3 && f[2] !== "") return { id, ok: true, value: f[2]! };
  if (f[1] === "err" && f.length >= 4 && /^[0-9]+$/.test(f[2]!)) {
    const errno = Number(f[2]);
    return { id, ok: false, errno, code: errnoName(errno), message: f.slice(3).join("\t") };
  }
  throw new Error(`Malformed answer from the btrfs helper: ${JSON.stringify(line)}`);
}

/** Splits a chunk of output into complete lines, keeping the unfinished tail. */
export function splitLines(pending: string, chunk: string): { lines: string[]; rest: string } {
  const parts = (pending + chunk).split("\n");
  const rest = parts.pop() ?? "";
  return { lines: parts, rest };
}

/** The figures of a level-0 qgroup as of the last transaction commit. */
export interface QgroupFigures {
  referenced: number;
  exclusive: number;
}

/**
 * Reads what `snap` answers: `<source referenced> <dest referenced> <dest exclusive>`, the
 * qgroup figures of the source and of the new snapshot once it is committed.
 */
export function parseSnapValue(value: string): { source: number; dest: QgroupFigures } {
  const f = value.split(" ");
  if (f.length !== 3 || !f.every(isCount))
    throw new Error(`Malformed snap answer from the btrfs helper: ${JSON.stringify(value)}`);
  return { source: Number(f[0]), dest: { referenced: Number(f[1]), exclusive: Number(f[2]) } };
}

/**
 * Reads what `usage` answers for `count` paths: `<referenced>:<exclusive>` per path, or `-`
 * (null here) for a path that does not exist.
 */
export function parseUsageValue(value: string, count: number): (QgroupFigures | null)[] {
  const fields = value.split(" ");
  const bad = () =>
    new Error(`Malformed usage answer from the btrfs helper: ${JSON.stringify(value)}`);
  if (fields.length !== count) throw bad();
  return fields.map((field) => {
    if (field === "-") return null;
    const [referenced, exclusive, ...rest] = field.split(":");
    if (rest.length || !isCount(referenced) || !isCount(exclusive)) throw bad();
    return { referenced: Number(referenced), exclusive: Number(exclusive) };
  });
}

/**
 * Splits the arguments of an op that takes any number of them (`usage`) into batches
 * that each fit in one request line.
 */
export function batchArgs(op: HelperOp, args: readonly string[]): string[][] {
  const batches: string[][] = [];
  // The id (at most 16 digits), the op and the TABs and LF around them.
  const overhead = 16 + op.length + 3;
  let batch: string[] = [];
  let bytes = overhead;
  for (const a of args) {
    const size = Buffer.byteLength(a) + 1;
    if (batch.length && (batch.length === MAX_ARGS || bytes + size > MAX_REQUEST_BYTES)) {
      batches.push(batch);
      batch = [];
      bytes = overhead;
    }
    batch.push(a);
    bytes += size;
  }
  if (batch.length) batches.push(batch);
  return batches;
}

function isCount(s: string | undefined): s is string {
  return s !== undefined && /^[0-9]{1,20}$/.test(s) && Number.isSafeInteger(Number(s));
}
