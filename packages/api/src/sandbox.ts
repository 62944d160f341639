import { z } from "zod";
import { ResourceRef } from "./common.ts";
import { withRule } from "./rule-schema.ts";
import {
  CPUS_MIN,
  checkCpus,
  checkEnv,
  checkLabels,
  checkMemory,
  checkMounts,
  checkPort,
  checkSchedule,
  checkTimeout,
  ENV_NAME_PATTERN,
  LABEL_KEY_PATTERN,
  LABEL_LIMITS,
  MEMORY_LIMITS,
  MOUNT_PATH_MAX,
  PORT_RANGE,
  RESERVED_MOUNT_PATHS,
  SNAPSHOT_KEEP_MAX,
} from "./rules.ts";
import { RUNTIMES, SANDBOX_STATUSES, SNAPSHOT_MODES } from "./values.ts";

export type SandboxStatus = (typeof SANDBOX_STATUSES)[number];

export type SnapshotMode = (typeof SNAPSHOT_MODES)[number];
export type RuntimeName = (typeof RUNTIMES)[number];

/** A port inside a sandbox, 1–65535 (`invalid_port` otherwise). */
export const Port = withRule(z.number(), checkPort).int().min(PORT_RANGE.min).max(PORT_RANGE.max);

/** A timeout such as `"30m"` (`invalid_timeout` when malformed; the daemon sets the maximum). */
export const Timeout = withRule(z.string(), checkTimeout);

/** Body of `POST /v1/sandboxes`. */
export const SandboxCreate = withRule(
  z.strictObject({
    region: z.string().optional().describe("Defaults to the daemon's region"),
    root: z
      .string()
      .optional()
      .describe(
        "A bootable volume (writable, persists, one sandbox at a time) or snapshot (ephemeral copy) by id or slug; default builtin:debian-13",
      ),
    volumes: withRule(z.record(z.string(), z.string()), checkMounts)
      .meta({ propertyNames: { pattern: "^/", maxLength: MOUNT_PATH_MAX } })
      .optional()
      .describe(
        `Absolute mount path → volume id or slug, e.g. {"/data": "my-dataset"}; paths are normalised (a trailing "/" aside), do not overlap, and are not ${RESERVED_MOUNT_PATHS.join(", ")} or under them`,
      ),
    labels: withRule(z.record(z.string(), z.string()), checkLabels)
      .meta({
        maxProperties: LABEL_LIMITS.count,
        propertyNames: { pattern: LABEL_KEY_PATTERN.source },
        additionalProperties: { type: "string", maxLength: LABEL_LIMITS.valueBytes },
      })
      .optional()
      .describe(
        `At most ${LABEL_LIMITS.count} labels; keys 1–${LABEL_LIMITS.keyBytes} bytes of letters, digits, "_", "-", ".", "/"; values ≤ ${LABEL_LIMITS.valueBytes} bytes (UTF-8)`,
      ),
    env: withRule(z.record(z.string(), z.string()), checkEnv)
      .meta({ propertyNames: { pattern: ENV_NAME_PATTERN.source } })
      .optional()
      .describe("Environment of every command run in the sandbox; values hold no NUL byte"),
    timeout: Timeout.optional().describe(
      '"30m", "600s", "2h": the sandbox is killed then (the daemon\'s maximum is 7 days); absent: lives until killed',
    ),
    memory: withRule(z.union([z.number(), z.string()]), checkMemory)
      .optional()
      .describe(
        `Memory limit: bytes or "1GiB", ${MEMORY_LIMITS.minBytes / 2 ** 20} MiB to ${MEMORY_LIMITS.maxBytes / 2 ** 30} GiB and at most the host's memory (default 1GiB)`,
      ),
    cpus: withRule(z.number(), checkCpus)
      .min(CPUS_MIN)
      .optional()
      .describe(
        `CPU limit in cores, e.g. 0.5: at least ${CPUS_MIN}, at most the host's cores (default 1)`,
      ),
    port: Port.optional().describe(
      "An HTTP port inside the sandbox to expose through the daemon's proxy",
    ),
    runtime: z.enum(RUNTIMES).optional().describe('"crun" (default) or "runsc" (gVisor)'),
    allowNet: z
      .array(z.string())
      .optional()
      .describe(
        'Egress allow-list: "host", "*.domain", "host:port", IPs, CIDRs; [] means no egress',
      ),
    fromSnapshot: z
      .string()
      .optional()
      .describe(
        "Restore: boot from this snapshot (id or slug); a snapshot of a sandbox also gives its template and default memory and cpus. Exclusive with `root`",
      ),
    persistent: z
      .boolean()
      .optional()
      .describe(
        "Keep the root filesystem across stop and start (POST /v1/sandboxes/{id}/stop, /start); deleted with the sandbox",
      ),
    persistentDiskGB: z
      .number()
      .optional()
      .describe(
        "Size of a persistent sandbox's disk in GB (10^9 bytes); default: the daemon's root capacity",
      ),
    snapshotMode: z
      .enum(SNAPSHOT_MODES)
      .optional()
      .describe(
        '"manual" (default) or "automatic": take snapshots on the `snapshotFrequency` schedule',
      ),
    snapshotFrequency: z
      .string()
      .optional()
      .describe(
        'Five-field cron expression, e.g. "0 * * * *"; required when snapshotMode is automatic, rejected otherwise',
      ),
    snapshotKeep: z
      .number()
      .int()
      // Checked with the other schedule fields below, so that the first fault named is the same.
      .meta({ minimum: 1, maximum: SNAPSHOT_KEEP_MAX })
      .optional()
      .describe(
        `Keep only the newest N automatic snapshots (1–${SNAPSHOT_KEEP_MAX}); older unprotected ones are deleted. Automatic mode only`,
      ),
  }),
  checkSchedule,
);
export type SandboxCreate = z.infer<typeof SandboxCreate>;

/** Body of `PATCH /v1/sandboxes/{id}`. */
export const SandboxUpdate = z.strictObject({
  timeout: Timeout.describe('New timeout from now, e.g. "30m"'),
});
export type SandboxUpdate = z.infer<typeof SandboxUpdate>;

/** Body of `POST /v1/sandboxes/{id}/expose`. */
export const SandboxExpose = z.strictObject({
  port: Port.describe("The HTTP port inside the sandbox to expose (replaces the exposed one)"),
});
export type SandboxExpose = z.infer<typeof SandboxExpose>;

export const SandboxRoot = z.union([
  z.object({ kind: z.literal("volume"), volume: ResourceRef }),
  z.object({ kind: z.literal("snapshot"), snapshot: ResourceRef }),
  z.object({ kind: z.literal("image"), image: z.string() }),
]);
export type SandboxRoot = z.infer<typeof SandboxRoot>;

/** A sandbox: an isolated Linux environment running an agent as PID 1. */
export const Sandbox = z.object({
  id: z.string(),
  region: z.string(),
  status: z.enum(SANDBOX_STATUSES),
  /** Why it stopped: "killed", "timeout", "exited", "daemon_stopped", or a failure. */
  stopReason: z.string().nullable(),
  root: SandboxRoot,
  volumes: z.array(z.object({ path: z.string(), volume: ResourceRef })),
  labels: z.record(z.string(), z.string()),
  memory: z.number().int(),
  cpus: z.number(),
  runtime: z.enum(RUNTIMES),
  port: z.number().int().nullable(),
  /** The exposed port's URL through the daemon's proxy, when `port` is set. */
  url: z.string().nullable(),
  allowNet: z.array(z.string()).nullable(),
  createdAt: z.string(),
  stoppedAt: z.string().nullable(),
  expiresAt: z.string().nullable(),
  /** Where the sandbox's filesystem first came from; restored sandboxes inherit it from their snapshot. */
  template: SandboxRoot,
  persistent: z.boolean(),
  /** A persistent sandbox's disk size in bytes; null for ephemeral sandboxes. */
  diskBytes: z.number().int().nullable(),
  /** Whether `POST /v1/sandboxes/{id}/start` can boot it again (a stopped persistent sandbox). */
  startable: z.boolean(),
  snapshotMode: z.enum(SNAPSHOT_MODES),
  snapshotFrequency: z.string().nullable(),
  snapshotKeep: z.number().int().nullable(),
});
export type Sandbox = z.infer<typeof Sandbox>;

export const SandboxListQuery = z.strictObject({
  status: z.enum(SANDBOX_STATUSES).optional(),
  label: z
    .union([z.string(), z.array(z.string())])
    .optional()
    .describe("key=value; repeat for several (all must match)"),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional(),
});
export type SandboxListQuery = z.infer<typeof SandboxListQuery>;

export const SandboxParams = z.strictObject({ id: z.string().min(1).max(64) });

/** Body of `POST /v1/sandboxes/{id}/exec`: run a command to completion. */
export const ExecRequest = z.strictObject({
  argv: z.array(z.string()).min(1).optional().describe("The command and its arguments"),
  command: z.string().optional().describe("A shell command line, run with /bin/sh -c"),
  cwd: z.string().optional(),
  env: z.record(z.string(), z.string()).optional(),
  stdin: z.string().optional().describe("Bytes for stdin, base64"),
});
export type ExecRequest = z.infer<typeof ExecRequest>;

export const ExecResult = z.object({
  exitCode: z.number().int().nullable(),
  signal: z.string().nullable(),
  stdout: z.string().describe("base64"),
  stderr: z.string().describe("base64"),
  /** True when output passed the daemon's cap and was cut. */
  truncated: z.boolean(),
});
export type ExecResult = z.infer<typeof ExecResult>;

export const FileStat = z.object({
  path: z.string(),
  type: z.enum(["file", "directory", "symlink", "other"]),
  mode: z.number().int(),
  uid: z.number().int(),
  gid: z.number().int(),
  size: z.number(),
  mtime: z.string(),
  linkTarget: z.string().nullable(),
});
export type FileStat = z.infer<typeof FileStat>;

export const DirEntry = z.object({
  name: z.string(),
  type: z.enum(["file", "directory", "symlink", "other"]),
});
export type DirEntry = z.infer<typeof DirEntry>;
