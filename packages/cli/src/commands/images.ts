import type { Command } from "commander";
import { Context } from "../context.ts";
import { imagesTable } from "../output.ts";

/** `strata images list`. */
export function imagesCommand(program: Command): void {
  const images = program
    .command("images")
    .alias("image")
    .description("Builtin base images, built once on first use");

  images
    .command("list")
    .alias("ls")
    .description("List builtin images and the state of their build")
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = Context.of(cmd);
      const items = await ctx.client.images.list();
      if (ctx.json) ctx.printJson(items);
      else ctx.print(imagesTable(items, ctx));
    });
}
