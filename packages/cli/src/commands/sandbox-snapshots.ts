import { checkSnapshotName } from "@strata/api/rules";
import type { EventType, Sandbox, Snapshot } from "@strata/sdk";
import { EVENT_TYPES } from "@strata/sdk";
import { type Command, Option } from "commander";
import { createSpinner } from "nanospinner";
import { Context } from "../context.ts";
import { eventsTable } from "../event-output.ts";
import { snapshotDetails, snapshotsTable } from "../snapshot-output.ts";
import { collect, pageSize, parseLimit, ruled } from "./args.ts";
import { findSandbox } from "./find-sandbox.ts";

/** The `--type` option of the event lists. */
export function eventTypeOption(): Option {
  return new Option("--type <type>", "only events of this type").choices(EVENT_TYPES);
}

/** `strata sandboxes snapshot|snapshots|events <id>`. */
export function sandboxSnapshotCommands(sandboxes: Command): void {
  sandboxes
    .command("snapshot")
    .description(
      "Snapshot a running sandbox's root filesystem (frozen only for the copy); restore it with create --from-snapshot",
    )
    .argument("<id>", "the sandbox's id")
    .argument(
      "<name>",
      "the snapshot's name: 2-63 lowercase letters, digits, - and ., shared with volume slugs",
      ruled(checkSnapshotName),
    )
    .option("--wait", "wait until the snapshot is ready; exit 1 if it fails")
    .action(async (id: string, name: string, opts: { wait?: boolean }, cmd: Command) => {
      const ctx = Context.of(cmd);
      const sandbox = await findSandbox(ctx, id);
      const snapshot = opts.wait
        ? await snapshotAndWait(sandbox, name)
        : await sandbox.snapshots.create({ name });
      if (ctx.json) ctx.printJson(snapshot);
      else ctx.print(snapshotDetails(snapshot, ctx));
      if (!opts.wait && snapshot.status === "creating") {
        ctx.note(
          `The snapshot is being created: "strata snapshots get ${snapshot.slug}" shows when it is ready (or pass --wait).`,
        );
      }
    });

  sandboxes
    .command("snapshots")
    .description("List a sandbox's snapshots, manual and automatic")
    .argument("<id>", "the sandbox's id")
    .option("--limit <n>", "show at most n snapshots (default: all)", parseLimit)
    .action(async (id: string, opts: { limit?: number }, cmd: Command) => {
      const ctx = Context.of(cmd);
      const sandbox = await findSandbox(ctx, id);
      const items = await collect(
        await sandbox.snapshots.list({ limit: pageSize(opts.limit) }),
        opts.limit,
      );
      ctx.printList(items, `No snapshots of sandbox ${id}.`, snapshotsTable);
    });

  sandboxes
    .command("events")
    .description(
      "List what happened to a sandbox, oldest first: scheduled snapshots and skips, pauses, stops",
    )
    .argument("<id>", "the sandbox's id")
    .addOption(eventTypeOption())
    .option("--limit <n>", "show at most n events (default: all)", parseLimit)
    .action(async (id: string, opts: { type?: EventType; limit?: number }, cmd: Command) => {
      const ctx = Context.of(cmd);
      const sandbox = await findSandbox(ctx, id);
      const items = await collect(
        await sandbox.events({ type: opts.type, limit: pageSize(opts.limit) }),
        opts.limit,
      );
      ctx.printList(items, `No events for sandbox ${id}.`, eventsTable);
    });
}

/** Takes the snapshot and waits until it settles, behind a spinner when stderr is a terminal. */
async function snapshotAndWait(sandbox: Sandbox, name: string): Promise<Snapshot> {
  // nanospinner divides by the terminal's width: a pty that reports 0 columns hangs it.
  const tty = process.stderr.isTTY === true && (process.stderr.columns ?? 0) > 0;
  if (!tty) return sandbox.snapshots.create({ name }, { wait: true });
  const spinner = createSpinner(`Snapshotting sandbox ${sandbox.id}`, {
    stream: process.stderr,
  }).start();
  const started = performance.now();
  try {
    const snapshot = await sandbox.snapshots.create({ name }, { wait: true });
    const ms = Math.round(performance.now() - started);
    spinner.success({ text: `Snapshot ${snapshot.slug} is ready after ${ms} ms` });
    return snapshot;
  } catch (err) {
    spinner.error({ text: `Snapshot ${name} did not become ready` });
    throw err;
  }
}
