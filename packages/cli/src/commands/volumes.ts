import { checkSlug, NAME_RULES } from "@strata/api/rules";
import { type Image, StrataError, type Volume } from "@strata/sdk";
import type { Command } from "commander";
import { createSpinner } from "nanospinner";
import { Context } from "../context.ts";
import { CliError, volumeDetails, volumesTable } from "../output.ts";
import { collect, pageSize, parseCapacity, parseLimit, ruled } from "./args.ts";
import { volumeRestoreCommand } from "./snapshot-files.ts";

/** `strata volumes create|list|get|delete`. */
export function volumesCommand(program: Command): void {
  const volumes = program
    .command("volumes")
    .alias("volume")
    .description("Manage volumes: writable filesystems with a hard capacity");

  volumes
    .command("create")
    .description("Create a volume, waiting until it is ready")
    .argument("<slug>", `unique name, shared with snapshot slugs: ${NAME_RULES}`, ruled(checkSlug))
    .requiredOption("--capacity <size>", "hard capacity: 10GB, 512MiB, or bytes", parseCapacity)
    .option("--region <region>", "region to create it in (default: the daemon's)")
    .option("--from <source>", 'start from "builtin:debian-13" or a snapshot id or slug')
    .action(async (slug: string, opts: CreateOptions, cmd: Command) => {
      const ctx = Context.of(cmd);
      const volume = await createVolume(ctx, slug, opts);
      if (ctx.json) ctx.printJson(volume);
      else ctx.print(volumeDetails(volume, ctx));
    });

  volumes
    .command("list")
    .alias("ls")
    .description("List volumes")
    .option("--search <text>", "only volumes whose id or slug contains this text")
    .option("--limit <n>", "show at most n volumes (default: all)", parseLimit)
    .action(async (opts: { search?: string; limit?: number }, cmd: Command) => {
      const ctx = Context.of(cmd);
      const list = await ctx.client.volumes.list({
        search: opts.search,
        limit: pageSize(opts.limit),
      });
      const items = await collect(list, opts.limit);
      ctx.printList(items, "No volumes.", volumesTable);
    });

  volumes
    .command("get")
    .description("Show one volume")
    .argument("<idOrSlug>", "the volume's id or slug")
    .action(async (idOrSlug: string, _opts: unknown, cmd: Command) => {
      const ctx = Context.of(cmd);
      const volume = await ctx.client.volumes.get(idOrSlug);
      if (!volume) {
        throw new CliError(`Volume ${JSON.stringify(idOrSlug)} not found`, {
          hint: 'run "strata volumes list" to see your volumes',
        });
      }
      if (ctx.json) ctx.printJson(volume);
      else ctx.print(volumeDetails(volume, ctx));
    });

  volumes
    .command("delete")
    .alias("rm")
    .description("Delete a volume (snapshots taken from it remain)")
    .argument("<idOrSlug>", "the volume's id or slug")
    .action(async (idOrSlug: string, _opts: unknown, cmd: Command) => {
      const ctx = Context.of(cmd);
      await ctx.client.volumes.delete(idOrSlug);
      if (ctx.json) ctx.printJson({ deleted: idOrSlug });
      else ctx.print(`Deleted volume ${JSON.stringify(idOrSlug)}.`);
    });

  volumeRestoreCommand(volumes);
}

interface CreateOptions {
  capacity: string;
  region?: string;
  from?: string;
}

/**
 * Creates the volume; while it waits (the first use of a builtin image builds it), shows
 * a spinner with the build phase on a terminal, or one line per phase otherwise.
 */
async function createVolume(ctx: Context, slug: string, opts: CreateOptions): Promise<Volume> {
  const label = `Creating volume ${JSON.stringify(slug)}`;
  // nanospinner divides by the terminal's width: a pty that reports 0 columns hangs it.
  const tty = process.stderr.isTTY === true && (process.stderr.columns ?? 0) > 0;
  const spinner = tty ? createSpinner(label, { stream: process.stderr }) : null;
  let lastPhase: string | undefined;
  const onProgress = (_volume: Volume, image?: Image) => {
    if (image?.status !== "building") return;
    const phase = `${label}: building ${image.name} (${image.phase ?? "starting"})`;
    if (phase === lastPhase) return;
    lastPhase = phase;
    if (spinner) spinner.update({ text: `${phase}; the first build takes a few minutes` });
    else if (!ctx.json) ctx.note(phase);
  };
  spinner?.start();
  try {
    const volume = await ctx.client.volumes.create(
      { slug, capacity: opts.capacity, region: opts.region, from: opts.from },
      { onProgress },
    );
    spinner?.success({ text: `Created volume ${JSON.stringify(slug)}` });
    return volume;
  } catch (err) {
    spinner?.error({ text: `${label} failed` });
    if (err instanceof StrataError && err.code === "volume_failed") {
      throw new CliError(err.message, {
        hint: `delete it with "strata volumes delete ${slug}" and retry`,
        cause: err,
      });
    }
    throw err;
  }
}
