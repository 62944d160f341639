import type { Readable } from "node:stream";
import type {
  DirEntry,
  ExecResult,
  FileStat,
  Sandbox,
  SandboxCreate,
  Snapshot,
  Volume,
  VolumeCreate,
} from "@strata/api";
import { q, StrataError } from "../../errors.ts";
import { BASE_ENV } from "../../service/sandbox-io.ts";
import type { Services } from "../../service/services.ts";

/**
 * The one module of the Deno compatibility layer that calls Strata's services: everything
 * else in `http/compat/` speaks to this interface, so the services can be re-cut without
 * touching the translation. Every rule (slugs, limits, attachment, regions, confinement of
 * paths) stays in the services; this only adapts shapes and waits where the official
 * client expects a call to have finished.
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

  /** The environment every command of the sandbox starts with (Strata's base and the sandbox's). */
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

/** How long a create waits for the builtin image its volume starts from. */
const VOLUME_READY_TIMEOUT_MS = 15 * 60_000;
/** The most sandboxes `listSandboxes` returns (the client's list is not paginated). */
const MAX_LISTED = 1000;

/** The adapter over today's {@link Services}. */
export function strataPort(s: Services, region: string): StrataPort {
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
      let volume = await s.volumes.create(orgId, input);
      const deadline = Date.now() + VOLUME_READY_TIMEOUT_MS;
      // A volume from a builtin image still being built answers `creating`; the client
      // expects a usable volume, and the service has no event for the build's end.
      while (volume.status === "creating") {
        if (Date.now() > deadline)
          throw new StrataError(
            "volume_not_ready",
            `Volume ${q(volume.slug)} is still being created after ${VOLUME_READY_TIMEOUT_MS / 60_000} minutes`,
          );
        await new Promise((r) => setTimeout(r, 200));
        volume = await s.volumes.get(orgId, volume.id);
      }
      if (volume.status === "failed")
        throw new StrataError(
          "image_build_failed",
          `Cannot create volume ${q(volume.slug)}: ${volume.failureReason ?? "its base image failed to build"}`,
        );
      return volume;
    },
    getVolume: (orgId, ref) => s.volumes.get(orgId, ref),
    listVolumes: (orgId, query) => s.volumes.list(orgId, query),
    deleteVolume: (orgId, ref) => s.volumes.delete(orgId, ref),
    snapshotVolume: (orgId, ref, slug) => s.snapshots.createFromVolume(orgId, ref, { slug }),
    getSnapshot: (orgId, ref) => s.snapshots.get(orgId, ref),
    listSnapshots: (orgId, query) => s.snapshots.list(orgId, { ...query, kind: "volume" }),
    deleteSnapshot: (orgId, ref) => s.snapshots.delete(orgId, ref),

    createSandbox: (orgId, input) => s.sandboxes.create(orgId, input),
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
      return s.sandboxes.update(orgId, id, { timeout: `${seconds}s` });
    },
    exposePort: (orgId, id, port) => s.sandboxes.expose(orgId, id, port),

    baseEnv: (orgId, id) => ({ ...BASE_ENV, ...s.sandboxes.context(orgId, id).env }),
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
