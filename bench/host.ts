import { spawn } from "node:child_process";
import { randomFillSync } from "node:crypto";
import { constants } from "node:fs";
import { access, mkdir, open, readFile } from "node:fs/promises";
import { join } from "node:path";

/** A command that exited non-zero or could not start; carries the tail of its output. */
export class CommandError extends Error {
  override name = "CommandError";
}

/** Runs argv without a shell; resolves with stdout, rejects with {@link CommandError}. */
export function run(argv: readonly string[], signal?: AbortSignal): Promise<string> {
  const [file, ...args] = argv;
  if (file === undefined) return Promise.reject(new Error("run() needs a command"));
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, LC_ALL: "C" },
      signal,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", (e) => reject(new CommandError(`Command "${argv.join(" ")}": ${e.message}`)));
    child.on("close", (code) => {
      const stdout = Buffer.concat(out).toString();
      if (code === 0) return resolve(stdout);
      const tail = (Buffer.concat(err).toString() || stdout).trim().split("\n").slice(-3);
      reject(
        new CommandError(`Command "${argv.join(" ")}" failed (exit ${code}): ${tail.join(" | ")}`),
      );
    });
  });
}

/** Whether an executable of that name is on PATH. */
export async function hasCommand(name: string): Promise<boolean> {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    if (
      dir &&
      (await access(join(dir, name), constants.X_OK).then(
        () => true,
        () => false,
      ))
    )
      return true;
  }
  return false;
}

const CHUNK = 4 * 1024 * 1024;

/**
 * Writes `totalBytes` of fresh random data under `dir` as files of `fileBytes` each, at most
 * 256 to a folder (`d000/f00000`). Every chunk is new random data, so neither filesystem can
 * share or compress anything: what is measured is what real, unique data costs.
 */
export async function writeRandomFiles(
  dir: string,
  options: { totalBytes: number; fileBytes: number; signal?: AbortSignal | undefined },
): Promise<number> {
  const buf = Buffer.alloc(Math.min(CHUNK, options.fileBytes));
  let files = 0;
  for (let written = 0; written < options.totalBytes; files++) {
    options.signal?.throwIfAborted();
    const folder = join(dir, `d${String(Math.floor(files / 256)).padStart(3, "0")}`);
    if (files % 256 === 0) await mkdir(folder, { recursive: true });
    const size = Math.min(options.fileBytes, options.totalBytes - written);
    const fh = await open(join(folder, `f${String(files).padStart(5, "0")}`), "wx");
    try {
      for (let off = 0; off < size; off += buf.length) {
        const n = Math.min(buf.length, size - off);
        randomFillSync(buf, 0, n);
        await fh.write(buf, 0, n, off);
      }
    } finally {
      await fh.close();
    }
    written += size;
  }
  return files;
}

/** Overwrites `length` bytes of an existing file at `offset` with fresh random data, in place. */
export async function overwriteRandom(
  file: string,
  options: { offset: number; length: number },
): Promise<void> {
  const buf = Buffer.alloc(Math.min(CHUNK, options.length));
  const fh = await open(file, "r+");
  try {
    for (let done = 0; done < options.length; done += buf.length) {
      const n = Math.min(buf.length, options.length - done);
      randomFillSync(buf, 0, n);
      await fh.write(buf, 0, n, options.offset + done);
    }
  } finally {
    await fh.close();
  }
}

/** Flushes everything to disk, so that no timed operation pays for earlier writes. */
export async function syncAll(signal?: AbortSignal): Promise<void> {
  await run(["sync"], signal);
}

/** Whether `path` is a mount point, from the kernel's mount table. */
export async function isMountPoint(path: string): Promise<boolean> {
  const table = await readFile("/proc/self/mountinfo", "utf8");
  const unescapeOctal = (s: string) =>
    s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
  return table.split("\n").some((line) => unescapeOctal(line.split(" ")[4] ?? "") === path);
}

/** Milliseconds `fn` takes, with its result. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = performance.now();
  const value = await fn();
  return { ms: performance.now() - start, value };
}
