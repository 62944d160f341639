import type { Command } from "commander";
import { Context } from "../context.ts";
import { findSandbox } from "./find-sandbox.ts";

const ACTIONS = {
  pause: {
    description:
      "Freeze every process of a sandbox: no CPU used, memory and connections kept; resume it later",
    done: (id: string) => `Paused sandbox ${id}.`,
  },
  resume: {
    description: "Thaw a paused sandbox: its processes go on where they were",
    done: (id: string) => `Resumed sandbox ${id}.`,
  },
  stop: {
    description: "Stop a persistent sandbox, keeping its disk for a later start",
    done: (id: string) => `Stopped sandbox ${id}; "strata sandboxes start ${id}" boots it again.`,
  },
  start: {
    description: "Boot a stopped persistent sandbox again from its disk",
    done: (id: string) => `Started sandbox ${id}.`,
  },
} as const;

/** `strata sandboxes pause|resume|stop|start <id>`. */
export function sandboxLifecycleCommands(sandboxes: Command): void {
  for (const [action, { description, done }] of Object.entries(ACTIONS)) {
    sandboxes
      .command(action)
      .description(description)
      .argument("<id>", "the sandbox's id")
      .action(async (id: string, _opts: unknown, cmd: Command) => {
        const ctx = Context.of(cmd);
        const sandbox = await findSandbox(ctx, id);
        await sandbox[action as keyof typeof ACTIONS]();
        if (ctx.json) ctx.printJson(sandbox);
        else ctx.print(done(id));
      });
  }
}
