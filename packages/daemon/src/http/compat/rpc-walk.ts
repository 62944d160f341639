import { posix } from "node:path";
import { createContext, runInContext } from "node:vm";
import { z } from "zod";
import { type Connection, type Handler, HOME, RpcFailure } from "./session.ts";
import { codeError } from "./wire.ts";

/**
 * `fs.walk()` and `fs.expandGlob()`, with `@std/fs` semantics, over Strata's readDir and
 * stat. Results stream one JSON entry per enqueue, as the client parses them.
 *
 * The regular expressions of `match`/`skip` and the globs come from the client and run in
 * the daemon: each batch of tests runs under a time limit, so a pathological pattern fails
 * that call instead of stalling the daemon.
 */

/** Bounds of one walk. */
const MAX_DEPTH = 64;
const MAX_ENTRIES = 100_000;
/** The time one batch of pattern tests may take. */
const MATCH_TIMEOUT_MS = 250;

interface Entry {
  path: string;
  name: string;
  isFile: boolean;
  isDirectory: boolean;
  isSymlink: boolean;
}

const Re = z.object({ source: z.string().max(1024), flags: z.string().regex(/^[dgimsuvy]{0,8}$/) });
const WalkParams = z.object({
  path: z.string(),
  maxDepth: z.number().int().min(0).nullish(),
  includeFiles: z.boolean().nullish(),
  includeDirs: z.boolean().nullish(),
  includeSymlinks: z.boolean().nullish(),
  followSymlinks: z.boolean().nullish(),
  canonicalize: z.boolean().nullish(),
  exts: z.array(z.string().max(64)).max(64).nullish(),
  match: z.array(Re).max(64).nullish(),
  skip: z.array(Re).max(64).nullish(),
});
const GlobParams = z.object({
  glob: z.string().min(1).max(1024),
  root: z.string().max(4096).nullish(),
  exclude: z.array(z.string().max(1024)).max(64).nullish(),
  includeDirs: z.boolean().nullish(),
  followSymlinks: z.boolean().nullish(),
  caseInsensitive: z.boolean().nullish(),
  extended: z.boolean().nullish(),
  globstar: z.boolean().nullish(),
  canonicalize: z.boolean().nullish(),
});

/** Runs `fn` with a time limit (a pattern that backtracks forever is cut off). */
function timed<T>(fn: () => T): T {
  try {
    return runInContext("fn()", createContext({ fn }), { timeout: MATCH_TIMEOUT_MS }) as T;
  } catch (err) {
    if ((err as { code?: string }).code === "ERR_SCRIPT_EXECUTION_TIMEOUT")
      throw new RpcFailure(
        codeError(
          "invalid_request",
          "A match, skip or glob pattern took too long to evaluate",
          "RangeError",
        ),
      );
    throw err;
  }
}

/** Which of `paths` one of `patterns` matches. */
function testAll(patterns: RegExp[], paths: string[]): boolean[] {
  return timed(() =>
    paths.map((p) =>
      patterns.some((r) => {
        r.lastIndex = 0;
        return r.test(p);
      }),
    ),
  );
}

interface WalkOptions {
  maxDepth: number;
  includeFiles: boolean;
  includeDirs: boolean;
  includeSymlinks: boolean;
  followSymlinks: boolean;
  /** Whether an entry is wanted (files, dirs and symlinks alike); dirs failing `descend` are not entered. */
  want: (paths: string[]) => boolean[];
  descend: (paths: string[]) => boolean[];
}

async function* walkFrom(
  conn: Connection,
  root: string,
  o: WalkOptions,
  counter: { n: number },
): AsyncGenerator<Entry> {
  const { st } = conn;
  const rootStat = await conn.port.stat(st.orgId, st.id, root, !o.followSymlinks);
  const rootEntry: Entry = {
    path: root,
    name: posix.basename(root),
    isFile: rootStat.type === "file",
    isDirectory: rootStat.type === "directory",
    isSymlink: rootStat.type === "symlink",
  };
  if (!rootEntry.isDirectory) {
    if (o.want([root])[0]) yield rootEntry;
    return;
  }
  async function* dir(path: string, entry: Entry, depth: number): AsyncGenerator<Entry> {
    if (++counter.n > MAX_ENTRIES)
      throw new RpcFailure(
        codeError(
          "invalid_request",
          `The walk passed ${MAX_ENTRIES} entries; narrow it down`,
          "RangeError",
        ),
      );
    if (o.includeDirs && o.want([path])[0]) yield entry;
    if (depth >= Math.min(o.maxDepth, MAX_DEPTH) || !o.descend([path])[0]) return;
    const children = await conn.port.readDir(st.orgId, st.id, path);
    const paths = children.map((c) => posix.join(path, c.name));
    const wanted = o.want(paths);
    for (const [i, c] of children.entries()) {
      const p = paths[i]!;
      let type = c.type;
      if (type === "symlink") {
        if (!o.followSymlinks) {
          if (o.includeSymlinks && wanted[i])
            yield { path: p, name: c.name, isFile: false, isDirectory: false, isSymlink: true };
          continue;
        }
        type = await conn.port.stat(st.orgId, st.id, p, false).then(
          (s) => s.type,
          () => "other" as const,
        );
      }
      const e: Entry = {
        path: p,
        name: c.name,
        isFile: type === "file",
        isDirectory: type === "directory",
        isSymlink: c.type === "symlink",
      };
      if (type === "directory") yield* dir(p, e, depth + 1);
      else if (o.includeFiles && type === "file" && wanted[i]) {
        if (++counter.n > MAX_ENTRIES)
          throw new RpcFailure(
            codeError(
              "invalid_request",
              `The walk passed ${MAX_ENTRIES} entries; narrow it down`,
              "RangeError",
            ),
          );
        yield e;
      }
    }
  }
  yield* dir(root, rootEntry, 0);
}

/** Streams `entries` to the client, one JSON entry per enqueue; returns the stream's id. */
function streamEntries(conn: Connection, entries: AsyncGenerator<Entry>): { streamId: number } {
  const streamId = conn.startStream();
  void (async () => {
    try {
      for await (const e of entries) {
        if (!conn.open || conn.cancelled.has(streamId)) return;
        const params = { streamId, data: Buffer.from(JSON.stringify(e)).toString("base64") };
        if (conn.backlog > 4 * 1024 * 1024)
          await conn.notifyWritten("$sandbox.stream.enqueue", params);
        else conn.notify("$sandbox.stream.enqueue", params);
      }
      conn.notify("$sandbox.stream.end", { streamId });
    } catch (err) {
      const error =
        err instanceof RpcFailure
          ? err.error
          : codeError("EIO", err instanceof Error ? err.message : String(err));
      conn.notify("$sandbox.stream.error", { streamId, error });
    }
  })();
  return { streamId };
}

const walk: Handler = async (conn, params) => {
  const p = WalkParams.parse(params);
  const root = conn.resolve(p.path);
  const match = (p.match ?? []).map((r) => new RegExp(r.source, r.flags));
  const skip = (p.skip ?? []).map((r) => new RegExp(r.source, r.flags));
  const exts = p.exts ?? [];
  const none = (paths: string[]) => paths.map(() => false);
  const want = (paths: string[]) => {
    const m = match.length ? testAll(match, paths) : paths.map(() => true);
    const s = skip.length ? testAll(skip, paths) : none(paths);
    return paths.map(
      (path, i) => m[i]! && !s[i] && (exts.length === 0 || exts.some((x) => path.endsWith(x))),
    );
  };
  const descend = (paths: string[]) =>
    skip.length ? testAll(skip, paths).map((s) => !s) : paths.map(() => true);
  return streamEntries(
    conn,
    walkFrom(
      conn,
      root,
      {
        maxDepth: p.maxDepth ?? Number.POSITIVE_INFINITY,
        includeFiles: p.includeFiles !== false,
        includeDirs: p.includeDirs !== false,
        includeSymlinks: p.includeSymlinks !== false,
        followSymlinks: p.followSymlinks === true,
        want,
        descend,
      },
      { n: 0 },
    ),
  );
};

const GLOB_CHARS = /[*?[\]{}()!+@]/;

const expandGlob: Handler = async (conn, params) => {
  const p = GlobParams.parse(params);
  const root = p.root == null ? HOME : conn.resolve(p.root, "root");
  const fold = (s: string) => (p.caseInsensitive === true ? s.toLowerCase() : s);
  const pattern = fold(posix.resolve(root, p.glob));
  const exclude = (p.exclude ?? []).map((x) => fold(posix.resolve(root, x)));
  const segments = pattern.split("/");
  const firstGlob = segments.findIndex((s) => GLOB_CHARS.test(s));
  const base = firstGlob === -1 ? pattern : segments.slice(0, firstGlob).join("/") || "/";
  const depth =
    firstGlob === -1 ? 0 : pattern.includes("**") ? MAX_DEPTH : segments.length - firstGlob;
  const matches = (paths: string[]) =>
    timed(() =>
      paths.map((x) => {
        const f = fold(x);
        return posix.matchesGlob(f, pattern) && !exclude.some((e) => posix.matchesGlob(f, e));
      }),
    );
  const descend = (paths: string[]) =>
    timed(() => paths.map((x) => !exclude.some((e) => posix.matchesGlob(fold(x), e))));
  const exists = await conn.port.stat(conn.st.orgId, conn.st.id, base, false).then(
    () => true,
    () => false,
  );
  const entries = exists
    ? walkFrom(
        conn,
        base,
        {
          maxDepth: depth,
          includeFiles: true,
          includeDirs: p.includeDirs !== false,
          includeSymlinks: true,
          followSymlinks: p.followSymlinks === true,
          want: matches,
          descend,
        },
        { n: 0 },
      )
    : (async function* (): AsyncGenerator<Entry> {})();
  return streamEntries(conn, entries);
};

export const walkMethods: Record<string, Handler> = { walk, expandGlob };
