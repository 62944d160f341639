import { spawn } from "node:child_process";
import { once } from "node:events";
import type { Dirent } from "node:fs";
import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { ExecError } from "../../lib/exec.ts";
import type { LayerDiff } from "../driver.ts";
import { finishDiff, SendDumpReader } from "./send-dump.ts";

/** How many paths under moved folders `diff()` lists before it gives up (truncated). */
const MOVED_WALK_CAP = 100_000;

/**
 * The difference between two read-only subvolumes, from the metadata of an incremental
 * send stream (see send-dump.ts): what changed costs O(changes), not O(size), and the
 * two need not share an ancestor. The paths under a moved folder are not in the stream;
 * they are listed from both trees, up to {@link MOVED_WALK_CAP} of them.
 */
export async function diffSubvolumes(
  basePath: string,
  targetPath: string,
  options: { limit?: number | undefined } = {},
): Promise<LayerDiff> {
  const reader = new SendDumpReader();
  await sendDump(basePath, targetPath, (line) => reader.push(line));
  const changes = reader.changes();
  // The stream names a moved folder once; list what is under it on both sides.
  const movedRemoved: string[] = [];
  const movedAdded: string[] = [];
  let budget = MOVED_WALK_CAP;
  for (const m of changes.moved) {
    budget -= await walk(basePath, m.from, movedRemoved, budget);
    budget -= await walk(targetPath, m.to, movedAdded, budget);
  }
  const result = finishDiff(
    changes,
    { removed: movedRemoved, added: movedAdded },
    options.limit ?? Number.POSITIVE_INFINITY,
  );
  return { ...result, truncated: result.truncated || budget <= 0 };
}

/**
 * Runs `btrfs send --no-data -p <base> <target> | btrfs receive --dump` without a shell
 * and hands each dump line to `onLine`, so memory stays O(changes).
 */
async function sendDump(base: string, target: string, onLine: (line: string) => void) {
  const send = spawn("btrfs", ["send", "--quiet", "--no-data", "-p", base, target], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, LC_ALL: "C" },
  });
  const dump = spawn("btrfs", ["receive", "--dump"], {
    stdio: [send.stdout, "pipe", "pipe"],
    env: { ...process.env, LC_ALL: "C" },
  });
  // The child has its own copy now; ours would never be read, and would keep `send` from closing.
  send.stdout.destroy();
  const errors: string[] = [];
  send.stderr.on("data", (b: Buffer) => errors.push(b.toString()));
  dump.stderr.on("data", (b: Buffer) => errors.push(b.toString()));
  const codes = Promise.all([
    once(send, "close").then(([code]) => code as number | null),
    once(dump, "close").then(([code]) => code as number | null),
  ]);
  let failure: unknown;
  for await (const line of createInterface({ input: dump.stdout, crlfDelay: Infinity })) {
    if (failure !== undefined) continue;
    try {
      onLine(line);
    } catch (err) {
      failure = err;
      send.kill();
    }
  }
  const [sendCode, dumpCode] = await codes;
  if (failure !== undefined) throw failure;
  if (sendCode !== 0 || dumpCode !== 0) {
    throw new ExecError(
      ["btrfs", "send", "--no-data", "-p", base, target, "|", "btrfs", "receive", "--dump"],
      sendCode !== 0 ? sendCode : dumpCode,
      errors.join(""),
    );
  }
}

/**
 * Appends the paths under `rel` in the tree at `root` (relative, `a/b`) to `out`, at most
 * `budget` of them; returns how many it added. Never follows symlinks: `readdir` reports
 * each entry's own type, and only real directories are entered.
 */
async function walk(root: string, rel: string, out: string[], budget: number): Promise<number> {
  // A moved symlink to a host folder must not be listed through: only a real folder, reached
  // through real folders, is walked.
  const parts = rel.split("/");
  for (let i = 1; i <= parts.length; i++) {
    const s = await lstat(join(root, ...parts.slice(0, i))).catch(() => null);
    if (!s?.isDirectory()) return 0;
  }
  let added = 0;
  const queue = [rel];
  while (queue.length && added < budget) {
    const dir = queue.pop()!;
    let entries: Dirent[];
    try {
      entries = await readdir(join(root, dir), { withFileTypes: true });
    } catch {
      continue; // unreadable: nothing to list below it
    }
    for (const e of entries) {
      const path = `${dir}/${e.name}`;
      out.push(path);
      if (++added >= budget) break;
      if (e.isDirectory()) queue.push(path);
    }
  }
  return added;
}
