import { type DoctorReport, NetworkError } from "@strata/sdk";
import type { Command } from "commander";
import { Context } from "../context.ts";
import { CliError, doctorText, EXIT } from "../output.ts";

/** `strata doctor`: the daemon's host checks; exit 1 when a fatal one fails. */
export function doctorCommand(program: Command): void {
  program
    .command("doctor")
    .description("Check the daemon's host: tools, kernel features, cgroup mode")
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = Context.of(cmd);
      let report: DoctorReport;
      try {
        report = await ctx.client.doctor();
      } catch (err) {
        if (err instanceof NetworkError) {
          throw new CliError(err.message, {
            hint: 'start it with "npm start"; "npm start -- doctor" runs the same checks without a daemon',
            exitCode: EXIT.network,
            cause: err,
          });
        }
        throw err;
      }
      if (ctx.json) ctx.printJson(report);
      else ctx.print(doctorText(report, ctx));
      if (!report.ok) process.exitCode = EXIT.error;
    });
}
