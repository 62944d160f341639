import type { Readable } from "node:stream";
import {
  BUILTIN_IMAGES,
  type BuiltinImage,
  type DirEntry,
  type ExecResult,
  type FileStat,
  ListQuery,
  ruleFailureOf,
  type Sandbox,
  SandboxCreate,
  SandboxExpose,
  SandboxUpdate,
  type Snapshot,
  SnapshotCreate,
  type Volume,
  VolumeCreate,
} from "@strata/api";
import type { z } from "zod";
import { q, StrataError } from "../../errors.ts";
import type { HttpServices } from "../http-services.ts";

/**
 * The one module of the Deno compatibility layer that calls Strata's services: everything
 * else in `http/compat/` speaks to this interface, so the services can be re-cut without
 * touching the translation. Every rule stays where Strata keeps it: the stateless ones
 * (names, labels, env, memory, ports, timeouts) in the `@strata/api` schemas, which every
 * translated input passes here exactly as a `/v1` body passes them, and the stateful ones
 * (attachment, regions, confinement of paths) in the services. This only adapts shapes and
 * waits where the official client expects a call to have finished.
 */
export interface StrataPort {
  /** The region this daemon serves. */
  readonly region: string;
  /**
   * The organisation of a bearer token; `org`, when given, must be that organisation's
   * name. Throws `unauthenticated` or `org_mismatch`.
   */
  authenticate(token: string | undefined, org: string | undefined): string;

  /** Creates a volume and resolves once it is ready (a first builtin image build included). */
  createVolume(orgId: string, input: VolumeCreate): Promise<Volume>;
  getVolume(orgId: string, idOrSlug: string): Promise<Volume>;
  listVolumes(orgId: string, query: PageQuery): Promise<PageOf<Volume>>;
  deleteVolume(orgId: string, idOrSlug: string): Promise<void>;
  snapshotVolume(orgId: string, idOrSlug: string, slug: string): Promise<Snapshot>;
  getSnapshot(orgId: string, idOrSlug: string): Promise<Snapshot>;
  listSnapshots(orgId: string, query: PageQuery): Promise<PageOf<Snapshot>>;
  deleteSnapshot(orgId: string, idOrSlug: string): Promise<void>;

  createSandbox(orgId: string, input: SandboxCreate): Promise<Sandbox>;
  getSandbox(orgId: string, id: string): Promise<Sandbox>;
  /** Every sandbox of the organisation whose labels include all of `labels` (newest first). */
  listSandboxes(orgId: string, labels: Record<string, string>): Promise<Sandbox[]>;
  killSandbox(orgId: string, id: string): Promise<void>;
  /** Sets the sandbox's deadline to `stopAtMs` (epoch ms, from the client's clock). */
  extendSandbox(orgId: string, id: string, stopAtMs: number): Promise<Sandbox>;
  exposePort(orgId: string, id: string, port: number): Promise<Sandbox>;

  /** The environment every command of the sandbox starts with (Strata's base, the runtime's, the sandbox's). */
  baseEnv(orgId: string, id: string): Record<string, string>;
  /** Starts a process; a command that cannot start is an exit status, as in a shell. */
  start(orgId: string, id: string, options: StartOptions): Promise<Proc | ExecResult>;
  openFile(orgId: string, id: string, path: string): Promise<{ size: number; stream: Readable }>;
  writeFile(
    orgId: string,
    id: string,
    path: string,
    data: AsyncIterable<Uint8Array>,
    options: { mode?: number | undefined; append?: boolean | undefined },
  ): Promise<void>;
  stat(orgId: string, id: string, path: string, noFollow: boolean): Promise<FileStat>;
  readDir(orgId: string, id: string, path: string): Promise<DirEntry[]>;
  mkdir(
    orgId: string,
    id: string,
    path: string,
    options: { recursive?: boolean | undefined; mode?: number | undefined },
  ): Promise<void>;
  remove(orgId: string, id: string, path: string, recursive: boolean): Promise<void>;
  rename(orgId: string, id: string, from: string, to: string): Promise<void>;
  chmod(orgId: string, id: string, path: string, mode: number): Promise<void>;
}

export interface PageQuery {
  limit: number;
  cursor?: string | undefined;
  search?: string | undefined;
}

export interface PageOf<T> {
  items: T[];
  nextCursor: string | null;
}

export interface StartOptions {
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  stdin: boolean;
}

/** A process running in a sandbox (Strata's exec process). */
export interface Proc {
  readonly pid: number;
  readonly stdout: Readable;
  readonly stderr: Readable;
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  writeStdin(data: Uint8Array): Promise<void>;
  closeStdin(): Promise<void>;
  signal(signal: NodeJS.Signals): Promise<void>;
}

/** The most sandboxes `listSandboxes` returns (the client's list is not paginated). */
const MAX_LISTED = 1000;

/**
 * `value` checked against a `/v1` schema, or the error a `/v1` route answers for it: the
 * broken rule's code and message (`invalid_slug`, `invalid_labels`, ...) when every issue
 * is one, `invalid_request` naming the fields otherwise.
 */
export function valid<S extends z.ZodType>(schema: S, value: z.input<S>): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i) => ({
    params: "params" in i ? (i.params as Record<string, unknown> | undefined) : undefined,
    message: i.message,
  }));
  const rule = ruleFailureOf(issues);
  if (rule) throw new StrataError(rule.code, rule.message);
  const summary = parsed.error.issues
    .map((i) => `${i.path.join(".") || "input"}: ${i.message}`)
    .join("; ");
  throw new StrataError("invalid_request", `Invalid request: ${summary}`);
}

const isBuiltin = (from: string | undefined): from is BuiltinImage =>
  (BUILTIN_IMAGES as readonly (string | undefined)[]).includes(from);

/** The adapter over Strata's services (what the HTTP layer may call of them). */
export function strataPort(s: HttpServices, region: string): StrataPort {
  return {
    region,
    authenticate(token, org) {
      const principal = token ? s.auth.authenticate(token) : undefined;
      if (!principal)
        throw new StrataError(
          "unauthenticated",
          token
            ? "Invalid token: no organisation has this token (DENO_DEPLOY_TOKEN must be a Strata token)"
            : 'Missing Authorization header: send "Authorization: Bearer <token>"',
        );
      if (org !== undefined) {
        const name = s.orgs.get(principal.orgId).name;
        if (org !== name)
          throw new StrataError(
            "org_mismatch",
            `Organisation ${q(org)} does not match the token's organisation ${q(name)}: set DENO_DEPLOY_ORG to ${q(name)}`,
          );
      }
      return principal.orgId;
    },

    async createVolume(orgId, input) {
      const body = valid(VolumeCreate, input);
      // The service answers `creating` while a builtin image is first built; the client
      // expects a usable volume, so the build is awaited first (then the create is at once).
      if (isBuiltin(body.from)) await s.images.ensure(body.from);
      const volume = await s.volumes.create(orgId, body);
      if (volume.status === "failed")
        throw new StrataError(
          "image_build_failed",
          `Cannot create volume ${q(volume.slug)}: ${volume.failureReason ?? "its base image failed to build"}`,
        );
      return volume;
    },
    getVolume: (orgId, ref) => s.volumes.get(orgId, ref),
    listVolumes: (orgId, query) => s.volumes.list(orgId, valid(ListQuery, query)),
    deleteVolume: (orgId, ref) => s.volumes.delete(orgId, ref),
    snapshotVolume: (orgId, ref, slug) =>
      s.snapshots.createFromVolume(orgId, ref, valid(SnapshotCreate, { slug })),
    getSnapshot: (orgId, ref) => s.snapshots.get(orgId, ref),
    listSnapshots: (orgId, query) =>
      s.snapshots.list(orgId, { ...valid(ListQuery, query), kind: "volume" }),
    deleteSnapshot: (orgId, ref) => s.snapshots.delete(orgId, ref),

    createSandbox: (orgId, input) => s.sandboxes.create(orgId, valid(SandboxCreate, input)),
    getSandbox: (orgId, id) => s.sandboxes.get(orgId, id),
    async listSandboxes(orgId, labels) {
      const label = Object.entries(labels).map(([k, v]) => `${k}=${v}`);
      const out: Sandbox[] = [];
      let cursor: string | undefined;
      do {
        const page = await s.sandboxes.list(orgId, { label, limit: 200, cursor });
        out.push(...page.items);
        cursor = page.nextCursor ?? undefined;
      } while (cursor !== undefined && out.length < MAX_LISTED);
      return out.slice(0, MAX_LISTED);
    },
    killSandbox: (orgId, id) => s.sandboxes.kill(orgId, id),
    extendSandbox(orgId, id, stopAtMs) {
      const seconds = Math.ceil((stopAtMs - Date.now()) / 1000);
      if (!Number.isFinite(seconds) || seconds <= 0)
        throw new StrataError(
          "invalid_timeout",
          `Invalid stop_at_ms ${q(stopAtMs)}: it is not in the future`,
        );
      return s.sandboxes.update(orgId, id, valid(SandboxUpdate, { timeout: `${seconds}s` }));
    },
    exposePort: (orgId, id, port) =>
      s.sandboxes.expose(orgId, id, valid(SandboxExpose, { port }).port),

    baseEnv: (orgId, id) => s.io.env(orgId, id),
    start: (orgId, id, options) => s.io.start(orgId, id, options),
    openFile: (orgId, id, path) => s.io.openFile(orgId, id, path),
    writeFile: (orgId, id, path, data, options) => s.io.writeFile(orgId, id, path, data, options),
    stat: (orgId, id, path, noFollow) => s.io.stat(orgId, id, path, noFollow),
    readDir: (orgId, id, path) => s.io.readDir(orgId, id, path),
    mkdir: (orgId, id, path, options) => s.io.mkdir(orgId, id, path, options),
    remove: (orgId, id, path, recursive) => s.io.remove(orgId, id, path, recursive),
    rename: (orgId, id, from, to) => s.io.rename(orgId, id, from, to),
    chmod: (orgId, id, path, mode) => s.io.chmod(orgId, id, path, mode),
  };
}
