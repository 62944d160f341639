import { styleText } from "node:util";
import {
  ApiError,
  type DoctorReport,
  formatSize,
  type Image,
  NetworkError,
  StrataError,
  type Volume,
} from "@strata/sdk";
import Table from "cli-table3";

/** How text is rendered: colours only on a terminal. */
export interface RenderOptions {
  color?: boolean;
}

type Color = "bold" | "green" | "yellow" | "red" | "dim";

/** Applies a colour when `color` is set; the caller decides whether the stream is a TTY. */
export function paint(text: string, format: Color, opts: RenderOptions): string {
  return opts.color ? styleText(format, text, { validateStream: false }) : text;
}

const BORDERLESS = {
  top: "",
  "top-mid": "",
  "top-left": "",
  "top-right": "",
  bottom: "",
  "bottom-mid": "",
  "bottom-left": "",
  "bottom-right": "",
  left: "",
  "left-mid": "",
  mid: "",
  "mid-mid": "",
  right: "",
  "right-mid": "",
  middle: "  ",
};

/**
 * Renders rows as space-separated, left-aligned columns under an upper-case header, like
 * `deno sandbox snapshots list`: no borders, no trailing spaces.
 */
export function renderTable(head: string[], rows: string[][], opts: RenderOptions = {}): string {
  const table = new Table({
    head: head.map((h) => paint(h, "bold", opts)),
    chars: BORDERLESS,
    style: { "padding-left": 0, "padding-right": 0, head: [], border: [], compact: true },
  });
  table.push(...rows);
  return table
    .toString()
    .split("\n")
    .map((line) => line.trimEnd())
    .join("\n");
}

function yesNo(value: boolean): string {
  return value ? "yes" : "no";
}

function status(value: string, opts: RenderOptions): string {
  const color: Color = value === "ready" ? "green" : value === "failed" ? "red" : "yellow";
  return paint(value, color, opts);
}

/** `ID  SLUG  REGION  CAPACITY  USED  BOOTABLE  STATUS`; USED is what counts against capacity. */
export function volumesTable(volumes: Volume[], opts: RenderOptions = {}): string {
  return renderTable(
    ["ID", "SLUG", "REGION", "CAPACITY", "USED", "BOOTABLE", "STATUS"],
    volumes.map((v) => [
      v.id,
      v.slug,
      v.region,
      formatSize(v.capacity),
      formatSize(v.usedBytes),
      yesNo(v.bootable),
      status(v.status, opts),
    ]),
    opts,
  );
}

/** `NAME  STATUS  SIZE  BUILT  DETAIL`; DETAIL is the build phase or the failure reason. */
export function imagesTable(images: Image[], opts: RenderOptions = {}): string {
  return renderTable(
    ["NAME", "STATUS", "SIZE", "BUILT", "DETAIL"],
    images.map((i) => [
      i.name,
      status(i.status, opts),
      i.sizeBytes === null ? "-" : formatSize(i.sizeBytes),
      i.builtAt ?? "-",
      (i.status === "failed" ? i.failureReason : i.phase) ?? "",
    ]),
    opts,
  );
}

function describeBase(base: Volume["base"]): string {
  if (base === null) return "empty";
  if (base.kind === "image") return base.image;
  return `snapshot ${base.snapshot.slug} (${base.snapshot.id})`;
}

/** Aligned `Key  value` lines. */
export function renderFields(fields: [string, string][]): string {
  const width = Math.max(...fields.map(([k]) => k.length));
  return fields.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join("\n");
}

/** One volume, field by field. */
export function volumeDetails(v: Volume, opts: RenderOptions = {}): string {
  const fields: [string, string][] = [
    ["ID", v.id],
    ["Slug", v.slug],
    ["Region", v.region],
    ["Status", status(v.status, opts)],
    ["Capacity", formatSize(v.capacity)],
    ["Used", formatSize(v.usedBytes)],
    ["Flattened", formatSize(v.estimatedFlattenedSize)],
    ["Allocated", formatSize(v.estimatedAllocatedSize)],
    ["Bootable", yesNo(v.bootable)],
    ["Base", describeBase(v.base)],
    ["Attached to", v.attachedTo ?? "-"],
    ["Created", v.createdAt],
  ];
  if (v.failureReason) fields.push(["Failure", v.failureReason]);
  return renderFields(fields);
}

/**
 * The doctor's checks, one line each (`ok`, `warn` or `FAIL`), a `fix:` line under each
 * failed one, then a summary.
 */
export function doctorText(report: DoctorReport, opts: RenderOptions = {}): string {
  const width = Math.max(0, ...report.checks.map((c) => c.name.length));
  const lines: string[] = [];
  for (const c of report.checks) {
    const label = c.ok
      ? paint("ok  ", "green", opts)
      : c.severity === "fatal"
        ? paint("FAIL", "red", opts)
        : paint("warn", "yellow", opts);
    lines.push(`${label}  ${c.name.padEnd(width)}  ${c.detail}`);
    if (!c.ok && c.fix) lines.push(`      fix: ${c.fix}`);
  }
  const failed = report.checks.filter((c) => !c.ok && c.severity === "fatal").length;
  const warned = report.checks.filter((c) => !c.ok && c.severity === "warn").length;
  lines.push("");
  if (report.ok && warned === 0) lines.push("All checks passed.");
  else if (report.ok) lines.push(`${plural(warned, "warning")}; stratad can run with less.`);
  else lines.push(`${plural(failed, "check")} failed, ${plural(warned, "warning")}.`);
  return lines.join("\n");
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** Pretty-printed JSON, as `--json` prints it. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

/** Exit codes: 0 ok, 1 API or command error, 2 usage error, 3 daemon unreachable. */
export const EXIT = { ok: 0, error: 1, usage: 2, network: 3 } as const;

/** A failure the CLI itself reports, with an optional hint line and exit code. */
export class CliError extends Error {
  readonly hint: string | undefined;
  readonly exitCode: number;

  constructor(
    message: string,
    options: { hint?: string; exitCode?: number; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "CliError";
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? EXIT.error;
  }
}

const TOKEN_HINT =
  "set STRATA_TOKEN (or pass --token), or run strata on the daemon host as root so it reads the admin token file";

const NAME_HINT =
  'give 2–63 lowercase letters, digits, "-" and ".", starting and ending with a letter or digit, e.g. before-upgrade or api-env-v1.0.0';

/** A hint line for each code where one helps. */
const HINTS: Record<string, string | ((err: StrataError) => string)> = {
  unauthenticated: TOKEN_HINT,
  missing_token: TOKEN_HINT,
  network_error:
    'is stratad running? Start it with "npm start", or point --endpoint (STRATA_ENDPOINT) at it',
  invalid_endpoint: "give a URL such as http://127.0.0.1:7070",
  invalid_response: "is the endpoint a Strata daemon? Check --endpoint (STRATA_ENDPOINT)",
  slug_taken: "choose another slug: volumes and snapshots share one namespace",
  invalid_slug: NAME_HINT,
  invalid_capacity: "give a size such as 10GB, 512MiB, or a number of bytes",
  invalid_region: 'omit --region to use the daemon\'s own region ("strata version" shows it)',
  region_mismatch: "a volume must be in the same region as the snapshot it starts from",
  volume_not_found: 'run "strata volumes list" to see your volumes',
  snapshot_not_found: 'run "strata snapshots list" to see your snapshots',
  snapshot_not_of_volume:
    'restore from a snapshot of that volume ("strata snapshots list" shows each one\'s VOLUME)',
  diff_target_not_found:
    'give a snapshot or volume id or slug ("strata snapshots list", "strata volumes list")',
  volume_in_use:
    'kill the sandbox that has it attached first ("strata sandboxes list --status ready" shows them)',
  sandbox_not_found: 'run "strata sandboxes list" to see your sandboxes',
  sandbox_not_running:
    'the sandbox has stopped ("strata sandboxes get <id>" says why); create a new one with "strata sandboxes create"',
  sandbox_start_failed: '"strata doctor" checks the host; the daemon\'s log has the details',
  root_not_bootable:
    "boot from a volume or snapshot made with --from builtin:debian-13 (or from such a snapshot)",
  invalid_mount_path:
    "give --volume as an absolute path and a volume, e.g. --volume /data=my-dataset",
  invalid_labels: "give --label as key=value; keys are letters, digits, _ - . /",
  invalid_env: "give --env as NAME=value, with a name of letters, digits and _",
  invalid_timeout: "give a duration such as 30m, 600s or 2h",
  invalid_limits: "give --memory as a size such as 1GiB and --cpus as a number such as 0.5",
  invalid_allow_net: "give hosts, *.domains, host:port, IPs or CIDRs",
  connection_closed:
    'the connection to the daemon dropped; "strata sandboxes get <id>" shows whether the sandbox still runs',
  volume_failed: 'delete the volume ("strata volumes delete <slug>") and retry',
  image_build_failed: 'the next volume create retries the build; "strata doctor" checks the host',
  pool_full: "free space by deleting volumes or snapshots you no longer need",
  sandbox_paused: 'resume it first: "strata sandboxes resume <id>"',
  sandbox_not_persistent:
    'only sandboxes created with --persistent can stop and start; end this one with "strata sandboxes kill <id>"',
  sandbox_not_ready:
    '"strata sandboxes get <id>" shows its status; only a stopped persistent sandbox can start',
  snapshot_protected: 'unprotect it first: "strata snapshots unprotect <snapshot>"',
  snapshot_in_progress:
    'wait for the sandbox\'s current snapshot to settle ("strata sandboxes snapshots <id>" lists them)',
  snapshot_not_ready:
    'the snapshot is still being created; "strata snapshots get <snapshot>" shows when it is ready',
  snapshot_failed: '"strata snapshots get <snapshot>" shows why; delete it and take another',
  wait_timeout:
    'the daemon keeps working on it; "strata snapshots get <snapshot>" shows when it is ready',
  invalid_snapshot_name: NAME_HINT,
  invalid_snapshot_schedule:
    'give --snapshot-frequency as a five-field cron expression such as "0 * * * *" (it needs --snapshot-mode automatic), and --snapshot-keep between 1 and 1000',
  invalid_retention: "give a duration such as 30d, 12h, 90m or 45s, or never",
  invalid_disk_size: "give --disk-gb as a number of GB, together with --persistent",
  invalid_root: "give either --root or --from-snapshot, and a snapshot (not a volume) to restore",
  internal: (err) =>
    err instanceof ApiError && err.requestId
      ? `the daemon's log has the details under request id ${err.requestId}`
      : "the daemon's log has the details",
};

/**
 * Turns any error into what the CLI prints on stderr and the exit code: `error:` and the
 * message, per-field details, a `hint:` line where one helps, and with `debug` the stack.
 */
export function describeError(
  err: unknown,
  opts: { debug?: boolean } & RenderOptions = {},
): { text: string; exitCode: number } {
  const lines: string[] = [];
  const message = err instanceof Error ? err.message : String(err);
  lines.push(`${paint("error:", "red", opts)} ${message}`);
  let hint: string | undefined;
  let exitCode: number = EXIT.error;
  if (err instanceof CliError) {
    hint = err.hint;
    exitCode = err.exitCode;
  } else if (err instanceof StrataError) {
    if (err instanceof ApiError) {
      for (const d of err.details ?? []) lines.push(`  ${d.path}: ${d.message}`);
    }
    const h = HINTS[err.code];
    hint = typeof h === "function" ? h(err) : h;
    if (err instanceof NetworkError) exitCode = EXIT.network;
  } else if (!opts.debug) {
    hint = "this looks like a bug in strata; run again with --debug for the stack trace";
  }
  if (hint) lines.push(`${paint("hint:", "dim", opts)} ${hint}`);
  if (opts.debug) {
    if (err instanceof ApiError) {
      lines.push(
        `debug: status ${err.status}, code ${err.code}, request id ${err.requestId ?? "-"}`,
      );
    }
    if (err instanceof Error && err.stack) lines.push(err.stack);
    if (err instanceof Error && err.cause instanceof Error && err.cause.stack) {
      lines.push(`caused by: ${err.cause.stack}`);
    }
  }
  return { text: lines.join("\n"), exitCode };
}
