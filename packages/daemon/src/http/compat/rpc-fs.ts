import { z } from "zod";
import { runIn } from "./sandbox-exec.ts";
import { type Connection, type Handler, RpcFailure } from "./session.ts";
import { abortError, codeError, errnoError, fileInfo, MAX_READ_BYTES } from "./wire.ts";

/** Whole-file and path operations of `sandbox.fs`. */

const Mode = z.number().int().min(0).max(0o7777);
const Id = z
  .number()
  .int()
  .min(0)
  .max(2 ** 32 - 1);
const Opts = <T extends z.ZodRawShape>(shape: T) => z.object(shape).nullish();

const WriteParams = z.object({
  path: z.string(),
  abortId: z.number().int().nullish(),
  options: Opts({
    append: z.boolean().nullish(),
    create: z.boolean().nullish(),
    createNew: z.boolean().nullish(),
    mode: Mode.nullish(),
  }),
  content: z.string().nullish(),
  contentStreamId: z.number().int().nonnegative().nullish(),
});

/** Reads a whole file (at most {@link MAX_READ_BYTES}); aborts with the call's abortId. */
async function readWhole(conn: Connection, params: Record<string, unknown>): Promise<Buffer> {
  const { st } = conn;
  const path = conn.resolve(params.path);
  const signal = conn.abortSignal(params.abortId);
  try {
    const { size, stream } = await conn.port.openFile(st.orgId, st.id, path);
    if (size > MAX_READ_BYTES) {
      stream.destroy();
      throw new RpcFailure(
        errnoError(
          "EFBIG",
          `Cannot read ${JSON.stringify(path)} in one message: it has ${size} bytes, more than ${MAX_READ_BYTES}; use fs.open() and read it in parts`,
        ),
      );
    }
    const chunks: Buffer[] = [];
    let total = 0;
    const onAbort = () => stream.destroy();
    signal?.addEventListener("abort", onAbort);
    try {
      for await (const c of stream) {
        total += (c as Buffer).length;
        if (total > MAX_READ_BYTES)
          throw new RpcFailure(
            errnoError("EFBIG", `${path} grew past ${MAX_READ_BYTES} bytes while being read`),
          );
        chunks.push(c as Buffer);
      }
    } catch (err) {
      if (signal?.aborted) throw new RpcFailure(abortError());
      throw err;
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
    if (signal?.aborted) throw new RpcFailure(abortError());
    return Buffer.concat(chunks);
  } finally {
    conn.settleAbort(params.abortId);
  }
}

async function writeWhole(
  conn: Connection,
  params: Record<string, unknown>,
  text: boolean,
): Promise<null> {
  const p = WriteParams.parse(params);
  const { st } = conn;
  const path = conn.resolve(p.path);
  const o = p.options ?? {};
  const signal = conn.abortSignal(p.abortId);
  try {
    const create = o.create !== false || o.createNew === true;
    if (o.createNew === true || !create) {
      const exists = await conn.port.stat(st.orgId, st.id, path, true).then(
        () => true,
        () => false,
      );
      if (o.createNew === true && exists)
        throw new RpcFailure(errnoError("EEXIST", `File exists: ${JSON.stringify(path)}`));
      if (!create && !exists)
        throw new RpcFailure(
          errnoError("ENOENT", `No such file or directory: ${JSON.stringify(path)}`),
        );
    }
    let data: AsyncIterable<Uint8Array>;
    if (p.contentStreamId != null) data = conn.inbound(p.contentStreamId);
    else if (p.content != null) {
      const bytes = text ? Buffer.from(p.content, "utf8") : Buffer.from(p.content, "base64");
      data = (async function* () {
        yield bytes;
      })();
    } else
      throw new RpcFailure(
        codeError("invalid_request", "writeFile needs content or contentStreamId", "TypeError"),
      );
    const aborted = async function* (source: AsyncIterable<Uint8Array>) {
      for await (const c of source) {
        if (signal?.aborted) throw Object.assign(new Error("aborted"), { name: "AbortError" });
        yield c;
      }
    };
    await conn.port.writeFile(st.orgId, st.id, path, aborted(data), {
      mode: o.mode ?? undefined,
      append: o.append === true,
    });
    if (signal?.aborted) throw new RpcFailure(abortError());
    return null;
  } finally {
    conn.settleAbort(p.abortId);
  }
}

const pathOf = (conn: Connection, params: Record<string, unknown>, key = "path") =>
  conn.resolve(params[key], key);

const stat =
  (noFollow: boolean): Handler =>
  async (conn, params) => {
    const s = await conn.port.stat(conn.st.orgId, conn.st.id, pathOf(conn, params), noFollow);
    return fileInfo(s);
  };

const TempOptions = z
  .object({
    dir: z.string().max(4096).nullish(),
    prefix: z
      .string()
      .max(255)
      .regex(/^[^/\0]*$/, "cannot contain / or NUL")
      .nullish(),
    suffix: z
      .string()
      .max(255)
      .regex(/^[^/\0]*$/, "cannot contain / or NUL")
      .nullish(),
  })
  .nullish();

const makeTemp =
  (dir: boolean): Handler =>
  async (conn, params) => {
    const o = TempOptions.parse(params.options) ?? {};
    const parent = o.dir == null ? "/tmp" : conn.resolve(o.dir, "dir");
    const argv = [
      "mktemp",
      ...(dir ? ["-d"] : []),
      "-p",
      parent,
      `${o.prefix ?? ""}XXXXXXXXXX${o.suffix ?? ""}`,
    ];
    const { stdout } = await runIn(conn, argv, {
      what: `Cannot make a temporary ${dir ? "directory" : "file"} in ${JSON.stringify(parent)}`,
    });
    return stdout.toString().trim();
  };

const touch = async (conn: Connection, path: string, atime: unknown, mtime: unknown) => {
  const a = z.iso.datetime({ offset: true }).parse(atime);
  const m = z.iso.datetime({ offset: true }).parse(mtime);
  await conn.port.stat(conn.st.orgId, conn.st.id, path, false);
  const what = `Cannot set the times of ${JSON.stringify(path)}`;
  await runIn(conn, ["touch", "-c", "-a", "-d", a, "--", path], { what });
  await runIn(conn, ["touch", "-c", "-m", "-d", m, "--", path], { what });
};

export const fsMethods: Record<string, Handler> = {
  readFile: async (conn, params) => (await readWhole(conn, params)).toString("base64"),
  readTextFile: async (conn, params) => (await readWhole(conn, params)).toString("utf8"),
  writeFile: (conn, params) => writeWhole(conn, params, false),
  writeTextFile: (conn, params) => writeWhole(conn, params, true),
  readDir: async (conn, params) => {
    const entries = await conn.port.readDir(conn.st.orgId, conn.st.id, pathOf(conn, params));
    return entries.map((e) => ({
      name: e.name,
      isFile: e.type === "file",
      isDirectory: e.type === "directory",
      isSymlink: e.type === "symlink",
    }));
  },
  remove: async (conn, params) => {
    const o = z.object({ recursive: z.boolean().nullish() }).nullish().parse(params.options);
    await conn.port.remove(conn.st.orgId, conn.st.id, pathOf(conn, params), o?.recursive === true);
    return null;
  },
  mkdir: async (conn, params) => {
    const o = z
      .object({ recursive: z.boolean().nullish(), mode: Mode.nullish() })
      .nullish()
      .parse(params.options);
    await conn.port.mkdir(conn.st.orgId, conn.st.id, pathOf(conn, params), {
      recursive: o?.recursive === true,
      mode: o?.mode ?? undefined,
    });
    return null;
  },
  rename: async (conn, params) => {
    await conn.port.rename(
      conn.st.orgId,
      conn.st.id,
      pathOf(conn, params, "oldPath"),
      pathOf(conn, params, "newPath"),
    );
    return null;
  },
  stat: stat(false),
  lstat: stat(true),
  chmod: async (conn, params) => {
    await conn.port.chmod(conn.st.orgId, conn.st.id, pathOf(conn, params), Mode.parse(params.mode));
    return null;
  },
  chown: async (conn, params) => {
    const path = pathOf(conn, params);
    const uid = Id.nullish().parse(params.uid);
    const gid = Id.nullish().parse(params.gid);
    if (uid == null && gid == null) return null;
    const owner = `${uid ?? ""}${gid == null ? "" : `:${gid}`}`;
    await runIn(conn, ["chown", owner, "--", path], {
      what: `Cannot chown ${JSON.stringify(path)}`,
    });
    return null;
  },
  copyFile: async (conn, params) => {
    const from = pathOf(conn, params, "fromPath");
    const to = pathOf(conn, params, "toPath");
    await runIn(conn, ["cp", "--preserve=mode", "--", from, to], {
      what: `Cannot copy ${JSON.stringify(from)} to ${JSON.stringify(to)}`,
    });
    return null;
  },
  link: async (conn, params) => {
    const target = pathOf(conn, params, "target");
    const path = pathOf(conn, params);
    await runIn(conn, ["ln", "-P", "--", target, path], {
      what: `Cannot link ${JSON.stringify(path)}`,
    });
    return null;
  },
  symlink: async (conn, params) => {
    // The target is the link's content, kept as given (relative targets stay relative).
    const target = z
      .string()
      .min(1)
      .max(4096)
      .refine((t) => !t.includes("\0"))
      .parse(params.target);
    const path = pathOf(conn, params);
    await runIn(conn, ["ln", "-s", "--", target, path], {
      what: `Cannot make symlink ${JSON.stringify(path)}`,
    });
    return null;
  },
  readLink: async (conn, params) => {
    const path = pathOf(conn, params);
    const s = await conn.port.stat(conn.st.orgId, conn.st.id, path, true);
    if (s.linkTarget === null)
      throw new RpcFailure(
        errnoError("EINVAL", `Cannot read link ${JSON.stringify(path)}: it is not a symlink`),
      );
    return s.linkTarget;
  },
  realPath: async (conn, params) => {
    const path = pathOf(conn, params);
    const { stdout } = await runIn(conn, ["realpath", "-e", "--", path], {
      what: `Cannot resolve ${JSON.stringify(path)}`,
    });
    return stdout.toString().replace(/\n$/, "");
  },
  truncate: async (conn, params) => {
    const path = pathOf(conn, params, "name");
    const length =
      z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullish().parse(params.length) ?? 0;
    await conn.port.stat(conn.st.orgId, conn.st.id, path, false);
    await runIn(conn, ["truncate", "-s", String(length), "--", path], {
      what: `Cannot truncate ${JSON.stringify(path)}`,
    });
    return null;
  },
  utime: async (conn, params) => {
    await touch(conn, pathOf(conn, params), params.atime, params.mtime);
    return null;
  },
  makeTempDir: makeTemp(true),
  makeTempFile: makeTemp(false),
};

export { touch };
