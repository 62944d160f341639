#!/usr/bin/env node
import { Command, CommanderError, Option } from "commander";
import pkg from "../package.json" with { type: "json" };
import { doctorCommand } from "./commands/doctor.ts";
import { eventsCommand } from "./commands/events.ts";
import { imagesCommand } from "./commands/images.ts";
import { orgCommand } from "./commands/org.ts";
import { sandboxesCommand } from "./commands/sandboxes.ts";
import { snapshotsCommand } from "./commands/snapshots.ts";
import { versionCommand } from "./commands/version.ts";
import { volumesCommand } from "./commands/volumes.ts";
import { describeError, EXIT } from "./output.ts";

/** Builds the `strata` program; commands inherit its settings, so configure it first. */
function buildProgram(): Command {
  const program = new Command("strata")
    .description("Strata: self-hosted sandboxes, volumes and snapshots")
    .version(pkg.version, "-V, --version", "print the CLI's version")
    .addOption(
      new Option("--endpoint <url>", "daemon URL (default http://127.0.0.1:7070)").env(
        "STRATA_ENDPOINT",
      ),
    )
    .addOption(new Option("--token <token>", "API token").env("STRATA_TOKEN"))
    .option("--json", "print raw JSON instead of tables")
    .option("--debug", "log requests and print stack traces")
    .exitOverride()
    .showHelpAfterError("hint: add --help for usage")
    .configureOutput({
      outputError: (text, write) => write(text),
    });
  sandboxesCommand(program);
  volumesCommand(program);
  snapshotsCommand(program);
  imagesCommand(program);
  orgCommand(program);
  eventsCommand(program);
  doctorCommand(program);
  versionCommand(program, pkg.version);
  return program;
}

async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander has already printed the message (and help, or the version).
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    const debug = program.opts<{ debug?: boolean }>().debug === true;
    const color = process.stderr.isTTY === true && !process.env.NO_COLOR;
    const { text, exitCode } = describeError(err, { debug, color });
    process.stderr.write(`${text}\n`);
    return exitCode;
  }
}

process.exitCode = await main(process.argv);
