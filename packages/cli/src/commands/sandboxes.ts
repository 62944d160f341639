import { checkEnv, checkLabels, checkMounts } from "@strata/api/rules";
import {
  SANDBOX_STATUSES,
  type Sandbox,
  type SandboxOptions,
  SNAPSHOT_MODES,
  type SnapshotMode,
  StrataError,
} from "@strata/sdk";
import { type Command, Option } from "commander";
import { createSpinner } from "nanospinner";
import { Context } from "../context.ts";
import { CliError } from "../output.ts";
import { sandboxDetails, sandboxesTable } from "../sandbox-output.ts";
import {
  collect,
  keyValue,
  list,
  pageSize,
  parseCpus,
  parseCron,
  parseDiskGb,
  parseKeep,
  parseLimit,
  parseMemory,
  parsePort,
  parseTimeout,
} from "./args.ts";
import { attach, stdinIsPiped } from "./attach.ts";
import { findSandbox } from "./find-sandbox.ts";
import { sandboxLifecycleCommands } from "./sandbox-lifecycle.ts";
import { sandboxSnapshotCommands } from "./sandbox-snapshots.ts";

const STATUSES: readonly string[] = SANDBOX_STATUSES;

interface CreateOptions {
  root?: string;
  volume?: Record<string, string>;
  label?: Record<string, string>;
  env?: Record<string, string>;
  timeout?: string;
  memory?: string;
  cpus?: number;
  port?: number;
  allowNet?: string[];
  region?: string;
  fromSnapshot?: string;
  persistent?: boolean;
  diskGb?: number;
  snapshotMode?: SnapshotMode;
  snapshotFrequency?: string;
  snapshotKeep?: number;
}

/**
 * `strata sandboxes create|list|get|kill|exec|pause|resume|stop|start|snapshot|snapshots|events`.
 */
export function sandboxesCommand(program: Command): void {
  const sandboxes = program
    .command("sandboxes")
    .alias("sandbox")
    .description("Manage sandboxes: isolated Linux environments to run commands in");

  sandboxes
    .command("create")
    .description(
      "Create a sandbox; with -- cmd args, run the command in it, stream its output, kill it and exit with its code",
    )
    .argument("[command...]", "a one-off command to run after --")
    .option("--root <root>", "bootable volume or snapshot (id or slug); default builtin:debian-13")
    .option(
      "--volume <path=volume>",
      "mount a volume, e.g. /data=my-dataset (repeatable)",
      keyValue("/path=volume", checkMounts),
    )
    .option("--label <key=value>", "a label (repeatable)", keyValue("key=value", checkLabels))
    .option(
      "--env <KEY=VALUE>",
      "an environment variable (repeatable)",
      keyValue("KEY=VALUE", checkEnv),
    )
    .option("--timeout <duration>", "kill it after 30m, 600s, 2h...", parseTimeout)
    .option("--memory <size>", "memory limit, e.g. 1GiB", parseMemory)
    .option("--cpus <n>", "CPU limit in cores, e.g. 0.5", parseCpus)
    .option("--port <port>", "expose this HTTP port at the sandbox's URL", parsePort)
    .option(
      "--allow-net <hosts>",
      "egress allow-list: hosts, *.domains, IPs, CIDRs (repeatable, comma-separated)",
      list,
    )
    .option("--region <region>", "region (default: the daemon's)")
    .option(
      "--from-snapshot <snapshot>",
      "restore a snapshot (id or slug); a sandbox's snapshot brings its template, memory and cpus",
    )
    .option("--persistent", "keep the root filesystem across stop and start")
    .option("--disk-gb <n>", "a persistent sandbox's disk size in GB", parseDiskGb)
    .addOption(
      new Option(
        "--snapshot-mode <mode>",
        "take snapshots manually, or also on a schedule",
      ).choices(SNAPSHOT_MODES),
    )
    .option(
      "--snapshot-frequency <cron>",
      'five-field cron schedule of automatic snapshots, e.g. "0 * * * *" (implies --snapshot-mode automatic)',
      parseCron,
    )
    .option("--snapshot-keep <n>", "keep only the newest n automatic snapshots (1-1000)", parseKeep)
    .action(async (command: string[], opts: CreateOptions, cmd: Command) => {
      const ctx = Context.of(cmd);
      const options: SandboxOptions = {
        root: opts.root,
        volumes: opts.volume,
        labels: opts.label,
        env: opts.env,
        timeout: opts.timeout,
        memory: opts.memory,
        cpus: opts.cpus,
        port: opts.port,
        allowNet: opts.allowNet,
        region: opts.region,
        fromSnapshot: opts.fromSnapshot,
        persistent: opts.persistent,
        persistentDiskGB: opts.diskGb,
        snapshotMode:
          opts.snapshotMode ?? (opts.snapshotFrequency !== undefined ? "automatic" : undefined),
        snapshotFrequency: opts.snapshotFrequency,
        snapshotKeep: opts.snapshotKeep,
      };
      const sandbox = await createWithSpinner(ctx, options);
      if (command.length === 0) {
        if (ctx.json) ctx.printJson(sandbox);
        else ctx.print(sandboxDetails(sandbox.info, ctx));
        return;
      }
      await using owned = sandbox;
      const child = await owned.spawn(command, { stdin: stdinIsPiped() ? "piped" : "null" });
      process.exitCode = await attach(child);
    });

  sandboxes
    .command("list")
    .alias("ls")
    .description("List sandboxes")
    .option(
      "--label <key=value>",
      "only sandboxes with this label (repeatable)",
      keyValue("key=value"),
    )
    .option("--status <status>", `only sandboxes in this status: ${STATUSES.join(", ")}`)
    .option("--limit <n>", "show at most n sandboxes (default: all)", parseLimit)
    .action(
      async (
        opts: { label?: Record<string, string>; status?: string; limit?: number },
        cmd: Command,
      ) => {
        const ctx = Context.of(cmd);
        if (opts.status !== undefined && !STATUSES.includes(opts.status)) {
          throw new CliError(`Unknown status ${JSON.stringify(opts.status)}`, {
            hint: `use one of ${STATUSES.join(", ")}`,
            exitCode: 2,
          });
        }
        const page = await ctx.client.sandboxes.list({
          labels: opts.label,
          status: opts.status as Sandbox["status"] | undefined,
          limit: pageSize(opts.limit),
        });
        const items = (await collect(page, opts.limit)).map((s) => s.info);
        ctx.printList(items, "No sandboxes.", sandboxesTable);
      },
    );

  sandboxes
    .command("get")
    .description("Show one sandbox")
    .argument("<id>", "the sandbox's id")
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = Context.of(cmd);
      const sandbox = await findSandbox(ctx, id);
      if (ctx.json) ctx.printJson(sandbox);
      else ctx.print(sandboxDetails(sandbox.info, ctx));
    });

  sandboxes
    .command("kill")
    .alias("rm")
    .description("Kill a sandbox; its root and volumes are free again")
    .argument("<id>", "the sandbox's id")
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = Context.of(cmd);
      const sandbox = await findSandbox(ctx, id);
      await sandbox.kill();
      if (ctx.json) ctx.printJson(sandbox);
      else ctx.print(`Killed sandbox ${id}.`);
    });

  sandboxes
    .command("exec")
    .description("Run a command in a sandbox, streaming its output; exits with its exit code")
    .argument("<id>", "the sandbox's id")
    .argument("<command...>", "the command and its arguments, after --")
    .option("--cwd <path>", "working directory inside the sandbox (default /root)")
    .option("--env <KEY=VALUE>", "an environment variable (repeatable)", keyValue("KEY=VALUE"))
    .action(
      async (
        id: string,
        command: string[],
        opts: { cwd?: string; env?: Record<string, string> },
        cmd: Command,
      ) => {
        const ctx = Context.of(cmd);
        const sandbox = await findSandbox(ctx, id);
        if (sandbox.status !== "ready") {
          throw new CliError(`Cannot run a command in sandbox ${id}: it is ${sandbox.status}`, {
            hint: notReadyHint(sandbox),
          });
        }
        const child = await sandbox.spawn(command, {
          cwd: opts.cwd,
          env: opts.env,
          stdin: stdinIsPiped() ? "piped" : "null",
        });
        process.exitCode = await attach(child);
      },
    );

  sandboxLifecycleCommands(sandboxes);
  sandboxSnapshotCommands(sandboxes);
}

/** What to do about a sandbox that cannot run commands in its status. */
function notReadyHint(sandbox: Sandbox): string {
  if (sandbox.status === "paused")
    return `resume it first: "strata sandboxes resume ${sandbox.id}"`;
  if (sandbox.info.startable) return `start it again: "strata sandboxes start ${sandbox.id}"`;
  return 'create a new one with "strata sandboxes create"';
}

/**
 * Creates the sandbox behind a spinner when stderr is a terminal. The first sandbox from
 * the base image waits for its one-time build; the spinner then shows the build's phase.
 */
async function createWithSpinner(ctx: Context, options: SandboxOptions): Promise<Sandbox> {
  // nanospinner divides by the terminal's width: a pty that reports 0 columns hangs it.
  const tty = process.stderr.isTTY === true && (process.stderr.columns ?? 0) > 0;
  if (!tty) return ctx.client.sandboxes.create(options);
  const label = "Creating sandbox";
  const spinner = createSpinner(label, { stream: process.stderr }).start();
  const started = performance.now();
  const watch = setInterval(() => {
    void ctx.client.images
      .get("builtin:debian-13")
      .then((image) => {
        if (image?.status === "building") {
          spinner.update({
            text: `${label}: building builtin:debian-13 (${image.phase ?? "starting"}); the first build takes a few minutes`,
          });
        }
      })
      .catch(() => {});
  }, 1000);
  try {
    const sandbox = await ctx.client.sandboxes.create(options);
    const ms = Math.round(performance.now() - started);
    spinner.success({ text: `Created sandbox ${sandbox.id} in ${ms} ms` });
    return sandbox;
  } catch (err) {
    spinner.error({ text: `${label} failed` });
    if (err instanceof StrataError && err.code === "root_not_bootable") {
      throw new CliError(err.message, {
        hint: "boot from a volume or snapshot made with --from builtin:debian-13 (or from such a snapshot)",
        cause: err,
      });
    }
    throw err;
  } finally {
    clearInterval(watch);
  }
}
