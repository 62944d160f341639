import { constants } from "node:os";
import { z } from "zod";
import { type Handler, HOME, RpcFailure } from "./session.ts";
import { pumpStream } from "./streams.ts";
import { codeError, errnoError } from "./wire.ts";

/** Processes and the sandbox-wide environment of the Deno API: spawn, wait, kill, env*. */

const EnvName = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "not a variable name");
const EnvValue = z
  .string()
  .max(128 * 1024)
  .refine((v) => !v.includes("\0"), "contains a NUL byte");
const Signal = z
  .string()
  .max(16)
  .refine((s) => /^SIG[A-Z0-9]+$/.test(s) && s in constants.signals, "not a signal name");
/** Variables one sandbox may set through `envSet`. */
const MAX_ENV = 1024;

const SpawnParams = z.object({
  command: z.string().min(1).max(4096),
  args: z
    .array(z.string().max(128 * 1024))
    .max(4096)
    .nullish(),
  env: z.record(EnvName, EnvValue).nullish(),
  clearEnv: z.boolean().nullish(),
  cwd: z.string().min(1).max(4096).nullish(),
  stdinStreamId: z.number().int().nonnegative().nullish(),
  stdout: z.enum(["piped", "null"]).nullish(),
  stderr: z.enum(["piped", "null"]).nullish(),
});
const Pid = z.object({ pid: z.number().int().nonnegative() }).passthrough();

const spawn: Handler = async (conn, params) => {
  const p = SpawnParams.parse(params);
  const { st } = conn;
  const argv = [p.command, ...(p.args ?? [])];
  if (argv.some((a) => a.includes("\0")))
    throw new RpcFailure(
      codeError("invalid_request", "Arguments cannot contain NUL bytes", "TypeError"),
    );
  const env: Record<string, string> = { ...Object.fromEntries(st.env), ...(p.env ?? {}) };
  // Strata starts every process with its base environment; `clearEnv` and `envDelete` are
  // applied by env(1) inside the sandbox.
  let full = argv;
  if (p.clearEnv === true)
    full = [
      "env",
      "-i",
      ...Object.entries(p.env ?? {}).map(([k, v]) => `${k}=${v}`),
      "--",
      ...argv,
    ];
  else if (st.unset.size > 0)
    full = [
      "env",
      ...[...st.unset].filter((k) => !(k in env)).flatMap((k) => ["-u", k]),
      "--",
      ...argv,
    ];
  const stdinStream = p.stdinStreamId == null ? undefined : conn.inbound(p.stdinStreamId);
  const started = await conn.port.start(st.orgId, st.id, {
    argv: full,
    cwd: p.cwd == null ? HOME : conn.resolve(p.cwd, "cwd"),
    env: p.clearEnv === true ? {} : env,
    stdin: stdinStream !== undefined,
  });
  if (!("pid" in started)) {
    stdinStream?.discard();
    const text = Buffer.from(started.stderr, "base64").toString().trim();
    throw new RpcFailure(errnoError(started.exitCode === 127 ? "ENOENT" : "EACCES", text));
  }
  const entry = st.track(started);
  const pipe = (source: typeof started.stdout, mode: "piped" | "null" | null | undefined) => {
    if (mode === "null") {
      source.resume();
      return null;
    }
    const streamId = conn.startStream();
    void pumpStream(conn, streamId, source, () => conn.cancelled.has(streamId));
    return streamId;
  };
  const stdoutStreamId = pipe(started.stdout, p.stdout);
  const stderrStreamId = pipe(started.stderr, p.stderr);
  if (stdinStream) {
    const streamId = p.stdinStreamId as number;
    void (async () => {
      try {
        for await (const chunk of stdinStream) {
          if (entry.ended) break;
          await started.writeStdin(chunk);
        }
        await started.closeStdin();
      } catch {
        await started.closeStdin().catch(() => {});
      }
    })();
    // The process ending while its stdin is open: tell the client to stop sending.
    void entry.status.then(() => {
      if (!stdinStream.ended) {
        conn.notify("$sandbox.stream.cancel", { streamId, reason: null });
        stdinStream.discard();
      }
    });
  }
  return { pid: started.pid, stdoutStreamId, stderrStreamId };
};

const gone = (pid: number) =>
  new RpcFailure(errnoError("ENOENT", `No such process: ${pid} (it ended, or never ran here)`));

const processWait: Handler = async (conn, params) => {
  const { pid } = Pid.parse(params);
  const entry = conn.st.processes.get(pid);
  if (!entry) throw gone(pid);
  return entry.status;
};

const processKill: Handler = async (conn, params) => {
  const { pid } = Pid.parse(params);
  const signal = Signal.nullish().parse(params.signal) ?? "SIGTERM";
  const entry = conn.st.processes.get(pid);
  if (!entry || entry.ended) throw gone(pid);
  await entry.proc.signal(signal as NodeJS.Signals);
  return null;
};

const Key = z.object({ key: EnvName }).passthrough();

const envGet: Handler = async (conn, params) => {
  const { key } = Key.parse(params);
  const { st } = conn;
  if (st.env.has(key)) return st.env.get(key);
  if (st.unset.has(key)) return null;
  return conn.port.baseEnv(st.orgId, st.id)[key] ?? null;
};

const envSet: Handler = async (conn, params) => {
  const { key } = Key.parse(params);
  const value = EnvValue.parse(params.value);
  const { st } = conn;
  if (!st.env.has(key) && st.env.size >= MAX_ENV)
    throw new RpcFailure(
      codeError("invalid_env", `At most ${MAX_ENV} variables can be set`, "RangeError"),
    );
  st.env.set(key, value);
  st.unset.delete(key);
  return null;
};

const envDelete: Handler = async (conn, params) => {
  const { key } = Key.parse(params);
  const { st } = conn;
  st.env.delete(key);
  if (key in conn.port.baseEnv(st.orgId, st.id)) st.unset.add(key);
  return null;
};

const envToObject: Handler = async (conn) => {
  const { st } = conn;
  const out: Record<string, string> = { ...conn.port.baseEnv(st.orgId, st.id) };
  for (const k of st.unset) delete out[k];
  return { ...out, ...Object.fromEntries(st.env) };
};

export const processMethods: Record<string, Handler> = {
  spawn,
  processWait,
  processKill,
  envGet,
  envSet,
  envDelete,
  envToObject,
};
