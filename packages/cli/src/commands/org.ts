import type { Org } from "@strata/sdk";
import type { Command } from "commander";
import { Context } from "../context.ts";
import { CliError, renderFields } from "../output.ts";
import { parseRetention } from "./args.ts";

function orgDetails(org: Org): string {
  return renderFields([
    ["ID", org.id],
    ["Name", org.name],
    ["Snapshot retention", org.snapshotRetention],
  ]);
}

/** `strata org get|set`. */
export function orgCommand(program: Command): void {
  const org = program.command("org").description("Show or change your organisation's settings");

  org
    .command("get")
    .description("Show the organisation and its settings")
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = Context.of(cmd);
      const value = await ctx.client.org.get();
      if (ctx.json) ctx.printJson(value);
      else ctx.print(orgDetails(value));
    });

  org
    .command("set")
    .description("Change settings")
    .option(
      "--snapshot-retention <duration>",
      "how long new snapshots live before they are deleted: 30d, 12h, 90m, 45s, or never",
      parseRetention,
    )
    .action(async (opts: { snapshotRetention?: string }, cmd: Command) => {
      const ctx = Context.of(cmd);
      if (opts.snapshotRetention === undefined) {
        throw new CliError("Nothing to change", {
          hint: "give --snapshot-retention, e.g. --snapshot-retention 30d",
          exitCode: 2,
        });
      }
      const value = await ctx.client.org.update({ snapshotRetention: opts.snapshotRetention });
      if (ctx.json) ctx.printJson(value);
      else ctx.print(orgDetails(value));
    });
}
