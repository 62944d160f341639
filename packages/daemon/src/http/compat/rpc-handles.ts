import { z } from "zod";
import { touch } from "./rpc-fs.ts";
import { runIn } from "./sandbox-exec.ts";
import { type Connection, type Handler, RpcFailure } from "./session.ts";
import { codeError, errnoError, fileInfo } from "./wire.ts";

/**
 * `fs.open()` / `fs.create()` and the `FsFile` methods. Strata's agent has no open file
 * descriptors to hand out, so a handle is the file's path and a position kept here, per
 * connection; reads and writes at a position run `dd` inside the sandbox. Handles are
 * freed when the connection closes (the client's `download()` never closes its own).
 */

interface Handle {
  path: string;
  position: number;
  read: boolean;
  write: boolean;
  append: boolean;
}

/** Handles one connection may hold open. */
const MAX_HANDLES = 256;
/** The most bytes one `fileRead` returns. */
const MAX_READ = 16 * 1024 * 1024;

let nextHandle = 1;

const OpenOptions = z
  .object({
    read: z.boolean().nullish(),
    write: z.boolean().nullish(),
    append: z.boolean().nullish(),
    truncate: z.boolean().nullish(),
    create: z.boolean().nullish(),
    createNew: z.boolean().nullish(),
    mode: z.number().int().min(0).max(0o7777).nullish(),
  })
  .nullish();
const HandleId = z.object({ fileHandleId: z.number().int().nonnegative() }).passthrough();

function handleOf(conn: Connection, params: Record<string, unknown>): Handle {
  const { fileHandleId } = HandleId.parse(params);
  const h = conn.handles.get(fileHandleId) as Handle | undefined;
  if (!h)
    throw new RpcFailure(
      errnoError("EBADF", `Bad resource: file handle ${fileHandleId} is not open`),
    );
  return h;
}

async function openFile(
  conn: Connection,
  path: string,
  o: z.infer<typeof OpenOptions> & object,
): Promise<{ fileHandleId: number }> {
  if (conn.handles.size >= MAX_HANDLES)
    throw new RpcFailure(
      errnoError("EMFILE", `At most ${MAX_HANDLES} files can be open on one connection`),
    );
  const { st } = conn;
  const write = o.write === true || o.append === true;
  const read = o.read === true || (!write && o.read !== false);
  const exists = await conn.port.stat(st.orgId, st.id, path, false).then(
    (s) => s,
    () => undefined,
  );
  if (o.createNew === true && exists)
    throw new RpcFailure(errnoError("EEXIST", `File exists: ${JSON.stringify(path)}`));
  if (exists?.type === "directory" && write)
    throw new RpcFailure(errnoError("EISDIR", `Is a directory: ${JSON.stringify(path)}`));
  const create = write && (o.create === true || o.createNew === true);
  if (!exists && !create)
    throw new RpcFailure(
      errnoError("ENOENT", `No such file or directory: ${JSON.stringify(path)}`),
    );
  if (!exists || (o.truncate === true && write)) {
    const empty = (async function* () {})();
    await conn.port.writeFile(st.orgId, st.id, path, empty, {
      mode: o.mode ?? undefined,
      append: false,
    });
  }
  const fileHandleId = nextHandle++;
  conn.handles.set(fileHandleId, {
    path,
    position: 0,
    read,
    write,
    append: o.append === true,
  } satisfies Handle);
  return { fileHandleId };
}

async function sizeOf(conn: Connection, h: Handle): Promise<number> {
  return (await conn.port.stat(conn.st.orgId, conn.st.id, h.path, false)).size;
}

const Offset = z.union([
  z.number().int(),
  z
    .string()
    .regex(/^-?\d{1,16}$/)
    .transform(Number),
]);

export const handleMethods: Record<string, Handler> = {
  open: async (conn, params) =>
    openFile(conn, conn.resolve(params.path), OpenOptions.parse(params.options) ?? { read: true }),
  create: async (conn, params) =>
    openFile(conn, conn.resolve(params.path), {
      read: true,
      write: true,
      create: true,
      truncate: true,
    }),
  fileRead: async (conn, params) => {
    const h = handleOf(conn, params);
    const length = z.number().int().min(0).max(MAX_READ).parse(params.length);
    if (!h.read) throw new RpcFailure(errnoError("EBADF", "The file was not opened for reading"));
    if (length === 0) return { data: "" };
    const { stdout } = await runIn(
      conn,
      [
        "dd",
        `if=${h.path}`,
        "bs=65536",
        "iflag=skip_bytes,count_bytes",
        `skip=${h.position}`,
        `count=${length}`,
        "status=none",
      ],
      { what: `Cannot read ${JSON.stringify(h.path)}`, maxOut: length },
    );
    if (stdout.length === 0) return { data: null };
    h.position += stdout.length;
    return { data: stdout.toString("base64") };
  },
  fileWrite: async (conn, params) => {
    const h = handleOf(conn, params);
    const data = Buffer.from(z.string().parse(params.data), "base64");
    if (!h.write) throw new RpcFailure(errnoError("EBADF", "The file was not opened for writing"));
    if (h.append) h.position = await sizeOf(conn, h);
    await runIn(
      conn,
      [
        "dd",
        `of=${h.path}`,
        "bs=65536",
        "oflag=seek_bytes",
        `seek=${h.position}`,
        "conv=notrunc",
        "status=none",
      ],
      { what: `Cannot write ${JSON.stringify(h.path)}`, stdin: data },
    );
    h.position += data.length;
    return { bytesWritten: data.length };
  },
  fileSeek: async (conn, params) => {
    const h = handleOf(conn, params);
    const offset = Offset.parse(params.offset);
    const whence = z.union([z.literal(0), z.literal(1), z.literal(2)]).parse(params.whence);
    const base = whence === 0 ? 0 : whence === 1 ? h.position : await sizeOf(conn, h);
    if (base + offset < 0)
      throw new RpcFailure(
        errnoError("EINVAL", `Cannot seek to ${base + offset}: before the start of the file`),
      );
    h.position = base + offset;
    return { position: h.position };
  },
  fileStat: async (conn, params) => {
    const h = handleOf(conn, params);
    return fileInfo(await conn.port.stat(conn.st.orgId, conn.st.id, h.path, false));
  },
  fileTruncate: async (conn, params) => {
    const h = handleOf(conn, params);
    const len =
      z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullish().parse(params.len) ?? 0;
    if (!h.write) throw new RpcFailure(errnoError("EBADF", "The file was not opened for writing"));
    await runIn(conn, ["truncate", "-s", String(len), "--", h.path], {
      what: `Cannot truncate ${JSON.stringify(h.path)}`,
    });
    return null;
  },
  fileUtime: async (conn, params) => {
    const h = handleOf(conn, params);
    await touch(conn, h.path, params.atime, params.mtime);
    return null;
  },
  fileSync: async (conn, params) => {
    const h = handleOf(conn, params);
    await runIn(conn, ["sync", "--", h.path], { what: `Cannot sync ${JSON.stringify(h.path)}` });
    return null;
  },
  fileSyncData: async (conn, params) => {
    const h = handleOf(conn, params);
    await runIn(conn, ["sync", "-d", "--", h.path], {
      what: `Cannot sync ${JSON.stringify(h.path)}`,
    });
    return null;
  },
  fileClose: async (conn, params) => {
    handleOf(conn, params);
    conn.handles.delete(HandleId.parse(params).fileHandleId);
    return null;
  },
  fileLock: async () => {
    throw new RpcFailure(
      codeError(
        "not_supported",
        "File locks are not supported by Strata's Deno API (handles are not open descriptors)",
        "NotSupported",
      ),
    );
  },
  fileUnlock: async () => {
    throw new RpcFailure(
      codeError(
        "not_supported",
        "File locks are not supported by Strata's Deno API",
        "NotSupported",
      ),
    );
  },
};
