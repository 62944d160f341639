import type { EventType } from "@strata/sdk";
import type { Command } from "commander";
import { Context } from "../context.ts";
import { eventsTable } from "../event-output.ts";
import { collect, pageSize, parseLimit } from "./args.ts";
import { eventTypeOption } from "./sandbox-snapshots.ts";

/** `strata events`. */
export function eventsCommand(program: Command): void {
  program
    .command("events")
    .description(
      "List what the daemon did on its own, oldest first: scheduled snapshots and skips, expiries, pauses, stops",
    )
    .addOption(eventTypeOption())
    .option("--sandbox <id>", "only events about this sandbox")
    .option("--limit <n>", "show at most n events (default: all)", parseLimit)
    .action(async (opts: { type?: EventType; sandbox?: string; limit?: number }, cmd: Command) => {
      const ctx = Context.of(cmd);
      const list = await ctx.client.events.list({
        type: opts.type,
        sandbox: opts.sandbox,
        limit: pageSize(opts.limit),
      });
      const items = await collect(list, opts.limit);
      ctx.printList(items, "No events.", eventsTable);
    });
}
