import type { Connection } from "./session.ts";
import { RpcFailure } from "./session.ts";
import { codeError, errnoError } from "./wire.ts";

/**
 * File operations Strata's agent has no message for (chown, copy, links, realpath,
 * truncate, utime, temp files, positioned reads and writes) run as coreutils commands
 * inside the sandbox, through Strata's exec: in the sandbox's namespaces, as its user,
 * with an argv and no shell. A path therefore resolves inside the sandbox exactly as the
 * agent's own file operations do; a planted symlink can only lead elsewhere inside it.
 */

/** Messages coreutils print (strerror texts) → errno names. */
const STRERROR: [RegExp, string][] = [
  [/No such file or directory/, "ENOENT"],
  [/Permission denied/, "EACCES"],
  [/Operation not permitted/, "EPERM"],
  [/File exists/, "EEXIST"],
  [/Is a directory|omitting directory/, "EISDIR"],
  [/Not a directory/, "ENOTDIR"],
  [/Too many levels of symbolic links/, "ELOOP"],
  [/Directory not empty/, "ENOTEMPTY"],
  [/No space left on device/, "ENOSPC"],
  [/Disk quota exceeded/, "EDQUOT"],
  [/Read-only file system/, "EROFS"],
  [/Invalid argument|invalid (user|group)|are the same file/, "EINVAL"],
  [/File too large/, "EFBIG"],
];

/** Pure: the errno name a coreutils error message stands for, or EIO when unknown. */
export function errnoOf(stderr: string): string {
  for (const [re, errno] of STRERROR) if (re.test(stderr)) return errno;
  return "EIO";
}

export interface RunResult {
  stdout: Buffer;
  stderr: string;
}

/**
 * Runs `argv` in the sandbox and returns its output; a non-zero exit is thrown as the
 * errno its message names (`what` says what failed). `maxOut` bounds the bytes kept.
 */
export async function runIn(
  conn: Connection,
  argv: string[],
  options: { what: string; stdin?: Buffer; maxOut?: number },
): Promise<RunResult> {
  const { st } = conn;
  const started = await conn.port.start(st.orgId, st.id, {
    argv,
    cwd: "/",
    env: { LC_ALL: "C" },
    stdin: options.stdin !== undefined,
  });
  if (!("pid" in started))
    throw new RpcFailure(
      codeError(
        "not_supported",
        `${options.what}: the sandbox has no ${JSON.stringify(argv[0])} (coreutils), which this operation needs`,
        "NotSupported",
      ),
    );
  const max = options.maxOut ?? 1024 * 1024;
  const out: Buffer[] = [];
  let size = 0;
  let err = "";
  const stdout = (async () => {
    for await (const c of started.stdout) {
      const b = c as Buffer;
      if (size < max) out.push(b.subarray(0, max - size));
      size += b.length;
    }
  })();
  const stderr = (async () => {
    for await (const c of started.stderr) if (err.length < 4096) err += String(c);
  })();
  if (options.stdin !== undefined) {
    await started.writeStdin(options.stdin);
    await started.closeStdin();
  }
  const [, , status] = await Promise.all([stdout, stderr, started.exited]);
  if (status.code !== 0) {
    const text = err.trim().split("\n").pop() ?? "";
    throw new RpcFailure(
      errnoError(
        errnoOf(text),
        `${options.what}: ${text || `exit status ${status.code ?? status.signal}`}`,
      ),
    );
  }
  return { stdout: Buffer.concat(out), stderr: err };
}
