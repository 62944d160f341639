import type { Command } from "commander";
import { Context } from "../context.ts";

/** `strata version`: the CLI's version and, when reachable, the daemon's. */
export function versionCommand(program: Command, cliVersion: string): void {
  program
    .command("version")
    .description("Show the CLI's version and the daemon's, if it is reachable")
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = Context.of(cmd);
      const endpoint = ctx.client.endpoint;
      let daemon: { version: string; region: string } | null = null;
      let unreachable: string | undefined;
      try {
        const health = await ctx.client.health();
        daemon = { version: health.version, region: health.region };
      } catch (err) {
        unreachable = err instanceof Error ? err.message : String(err);
      }
      if (ctx.json) {
        ctx.printJson({
          cli: cliVersion,
          endpoint,
          daemon,
          ...(unreachable ? { unreachable } : {}),
        });
        return;
      }
      ctx.print(`strata   ${cliVersion}`);
      if (daemon) ctx.print(`stratad  ${daemon.version} (region ${daemon.region}, ${endpoint})`);
      else ctx.print(`stratad  not reachable: ${unreachable}`);
    });
}
