import type { Sandbox } from "@strata/sdk";
import type { Context } from "../context.ts";
import { CliError } from "../output.ts";

/** A handle on the sandbox `id`; a CLI error with a hint when there is none. */
export async function findSandbox(ctx: Context, id: string): Promise<Sandbox> {
  const sandbox = await ctx.client.sandboxes.get(id);
  if (!sandbox) {
    throw new CliError(`Sandbox ${JSON.stringify(id)} not found`, {
      hint: 'run "strata sandboxes list" to see your sandboxes',
    });
  }
  return sandbox;
}
