import { checkSlug } from "@strata/api/rules";
import type { SnapshotKind } from "@strata/sdk";
import { SNAPSHOT_KINDS } from "@strata/sdk";
import { type Command, Option } from "commander";
import { Context } from "../context.ts";
import { CliError } from "../output.ts";
import { snapshotDetails, snapshotsTable } from "../snapshot-output.ts";
import { collect, pageSize, parseLimit, ruled } from "./args.ts";
import { snapshotFileCommands } from "./snapshot-files.ts";

/** `strata snapshots create|list|get|protect|unprotect|delete`. */
export function snapshotsCommand(program: Command): void {
  const snapshots = program
    .command("snapshots")
    .alias("snapshot")
    .description("Manage snapshots: read-only, point-in-time copies of volumes and sandboxes");

  snapshots
    .command("create")
    .description("Snapshot a volume, instantly whatever its size")
    .argument("<volume>", "the volume's id or slug")
    .argument("<snapshot>", "the new snapshot's slug, shared with volume slugs", ruled(checkSlug))
    .action(async (volume: string, slug: string, _opts: unknown, cmd: Command) => {
      const ctx = Context.of(cmd);
      const snapshot = await ctx.client.volumes.snapshot(volume, { slug });
      if (ctx.json) ctx.printJson(snapshot);
      else ctx.print(snapshotDetails(snapshot, ctx));
    });

  snapshots
    .command("list")
    .alias("ls")
    .description("List snapshots")
    .option("--search <text>", "only snapshots whose id or slug contains this text")
    .addOption(
      new Option("--kind <kind>", "only snapshots of volumes, or of sandboxes").choices(
        SNAPSHOT_KINDS,
      ),
    )
    .option("--sandbox <id>", "only snapshots of this sandbox")
    .option("--limit <n>", "show at most n snapshots (default: all)", parseLimit)
    .action(async (opts: ListOptions, cmd: Command) => {
      const ctx = Context.of(cmd);
      const list = await ctx.client.snapshots.list({
        search: opts.search,
        kind: opts.kind,
        sandbox: opts.sandbox,
        limit: pageSize(opts.limit),
      });
      const items = await collect(list, opts.limit);
      ctx.printList(items, "No snapshots.", snapshotsTable);
    });

  snapshots
    .command("get")
    .description("Show one snapshot")
    .argument("<idOrSlug>", "the snapshot's id or slug")
    .action(async (idOrSlug: string, _opts: unknown, cmd: Command) => {
      const ctx = Context.of(cmd);
      const snapshot = await ctx.client.snapshots.get(idOrSlug);
      if (!snapshot) {
        throw new CliError(`Snapshot ${JSON.stringify(idOrSlug)} not found`, {
          hint: 'run "strata snapshots list" to see your snapshots',
        });
      }
      if (ctx.json) ctx.printJson(snapshot);
      else ctx.print(snapshotDetails(snapshot, ctx));
    });

  for (const [action, verb, description] of [
    [
      "protect",
      "Protected",
      "Protect a snapshot: retention never deletes it, and delete refuses it until unprotected",
    ],
    ["unprotect", "Unprotected", "Unprotect a snapshot: it can be deleted, and expires again"],
  ] as const) {
    snapshots
      .command(action)
      .description(description)
      .argument("<idOrSlug>", "the snapshot's id or slug")
      .action(async (idOrSlug: string, _opts: unknown, cmd: Command) => {
        const ctx = Context.of(cmd);
        const snapshot = await ctx.client.snapshots[action](idOrSlug);
        if (ctx.json) ctx.printJson(snapshot);
        else ctx.print(`${verb} snapshot ${JSON.stringify(snapshot.slug)}.`);
      });
  }

  snapshots
    .command("delete")
    .alias("rm")
    .description(
      "Delete a snapshot (volumes and sandboxes made from it keep working); refused while protected",
    )
    .argument("<idOrSlug>", "the snapshot's id or slug")
    .action(async (idOrSlug: string, _opts: unknown, cmd: Command) => {
      const ctx = Context.of(cmd);
      await ctx.client.snapshots.delete(idOrSlug);
      if (ctx.json) ctx.printJson({ deleted: idOrSlug });
      else ctx.print(`Deleted snapshot ${JSON.stringify(idOrSlug)}.`);
    });

  snapshotFileCommands(snapshots);
}

interface ListOptions {
  search?: string;
  kind?: SnapshotKind;
  sandbox?: string;
  limit?: number;
}
