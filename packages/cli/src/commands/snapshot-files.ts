import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import type { DirEntry, SnapshotDiff } from "@strata/sdk";
import { type Command, InvalidArgumentError } from "commander";
import { Context } from "../context.ts";
import { paint, type RenderOptions, renderTable, volumeDetails } from "../output.ts";

/** `strata snapshots files|stat|cat|diff`: look inside snapshots without booting them. */
export function snapshotFileCommands(snapshots: Command): void {
  snapshots
    .command("files")
    .description("List a directory inside a snapshot (as if the snapshot were /)")
    .argument("<snapshot>", "the snapshot's id or slug")
    .argument("[path]", "absolute path inside the snapshot", "/")
    .action(async (snapshot: string, path: string, _opts: unknown, cmd: Command) => {
      const ctx = Context.of(cmd);
      const entries = await ctx.client.snapshots.files.list(snapshot, path);
      if (ctx.json) ctx.printJson(entries);
      else if (entries.length === 0) ctx.print("Empty directory.");
      else ctx.print(dirTable(entries, ctx));
    });

  snapshots
    .command("stat")
    .description("Describe a path inside a snapshot")
    .argument("<snapshot>", "the snapshot's id or slug")
    .argument("<path>", "absolute path inside the snapshot")
    .option("--no-follow", "describe a final symlink itself")
    .action(async (snapshot: string, path: string, opts: { follow: boolean }, cmd: Command) => {
      const ctx = Context.of(cmd);
      const info = await ctx.client.snapshots.files.stat(snapshot, path, {
        noFollow: !opts.follow,
      });
      if (ctx.json) ctx.printJson(info);
      else {
        const type = info.isDirectory
          ? "directory"
          : info.isFile
            ? "file"
            : info.isSymlink
              ? "symlink"
              : "other";
        ctx.print(
          [
            `Path   ${path}`,
            `Type   ${type}${info.linkTarget !== null ? ` -> ${info.linkTarget}` : ""}`,
            `Size   ${info.size}`,
            `Mode   ${info.mode.toString(8).padStart(4, "0")}`,
            `Owner  ${info.uid}:${info.gid}`,
            `Mtime  ${info.mtime.toISOString()}`,
          ].join("\n"),
        );
      }
    });

  snapshots
    .command("cat")
    .description("Print a file inside a snapshot (raw bytes, streamed)")
    .argument("<snapshot>", "the snapshot's id or slug")
    .argument("<path>", "absolute path inside the snapshot")
    .action(async (snapshot: string, path: string, _opts: unknown, cmd: Command) => {
      const ctx = Context.of(cmd);
      const res = await ctx.client.snapshots.files.readStream(snapshot, path);
      if (res.body) await pipeline(Readable.fromWeb(res.body as WebReadableStream), process.stdout);
    });

  snapshots
    .command("diff")
    .description("What changed from a snapshot to another snapshot or a volume")
    .argument("<snapshot>", "the base snapshot's id or slug")
    .argument("<to>", "a snapshot or volume (id or slug) to compare with")
    .option("--limit <n>", "most paths per kind (1-10000, default 1000)", parseDiffLimit)
    .action(async (base: string, to: string, opts: { limit?: number }, cmd: Command) => {
      const ctx = Context.of(cmd);
      const diff = await ctx.client.snapshots.diff(base, to, { limit: opts.limit });
      if (ctx.json) ctx.printJson(diff);
      else ctx.print(diffText(diff, ctx));
    });
}

/** `strata volumes restore <volume> <snapshot>`. */
export function volumeRestoreCommand(volumes: Command): void {
  volumes
    .command("restore")
    .description("Roll a volume back in place to one of its snapshots (it must not be attached)")
    .argument("<volume>", "the volume's id or slug")
    .argument("<snapshot>", "a snapshot of that volume, by id or slug")
    .action(async (volume: string, snapshot: string, _opts: unknown, cmd: Command) => {
      const ctx = Context.of(cmd);
      const restored = await ctx.client.volumes.restore(volume, { snapshot });
      if (ctx.json) ctx.printJson(restored);
      else {
        ctx.note(
          `Restored volume ${JSON.stringify(restored.slug)} from ${JSON.stringify(snapshot)}.`,
        );
        ctx.print(volumeDetails(restored, ctx));
      }
    });
}

/** `TYPE  NAME`, folders with a trailing slash, like `ls -F`. */
export function dirTable(entries: DirEntry[], opts: RenderOptions = {}): string {
  return renderTable(
    ["TYPE", "NAME"],
    entries.map((e) => [
      e.isDirectory ? "dir" : e.isFile ? "file" : e.isSymlink ? "link" : "other",
      e.isDirectory ? `${e.name}/` : e.name,
    ]),
    opts,
  );
}

/** One `A`/`D`/`M` line per path in path order, like `git diff --name-status`, then a summary. */
export function diffText(diff: SnapshotDiff, opts: RenderOptions = {}): string {
  const rows = [
    ...diff.added.map((p) => ["A", p] as const),
    ...diff.removed.map((p) => ["D", p] as const),
    ...diff.changed.map((p) => ["M", p] as const),
  ].sort((a, b) => (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  const color = { A: "green", D: "red", M: "yellow" } as const;
  const lines = rows.map(
    ([k, p]) => `${paint(k, color[k], opts)}  ${JSON.stringify(p).slice(1, -1)}`,
  );
  const what = `${diff.base.slug} -> ${diff.target.kind} ${diff.target.slug}`;
  lines.push(
    rows.length === 0
      ? `No differences (${what}).`
      : `${diff.added.length} added, ${diff.removed.length} removed, ${diff.changed.length} changed (${what})${diff.truncated ? "; more were left out, raise --limit" : ""}.`,
  );
  return lines.join("\n");
}

function parseDiffLimit(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n < 1 || n > 10_000) {
    throw new InvalidArgumentError("expected a whole number from 1 to 10000.");
  }
  return n;
}
