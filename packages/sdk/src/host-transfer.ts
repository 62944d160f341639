import { chunksOf } from "./bytes.ts";
import { StrataError } from "./errors.ts";
import type { SandboxFs } from "./sandbox-fs.ts";

/** Files copied at the same time by `upload()` and `download()`. */
const PARALLEL = 4;

/** Joins a directory path and an entry name with exactly one slash. */
function join(dir: string, name: string): string {
  return `${dir.replace(/\/+$/, "")}/${name}`;
}

/** Runs `jobs` with at most `PARALLEL` in flight; the first failure rejects. */
async function pool(jobs: (() => Promise<void>)[]): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) await jobs[next++]!();
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, jobs.length) }, worker));
}

/** Copies a host file or directory into the sandbox (see `SandboxFs.upload`). */
export async function uploadPath(
  sfs: SandboxFs,
  hostPath: string,
  sandboxPath: string,
  signal: AbortSignal | undefined,
): Promise<void> {
  // Loaded lazily so the SDK still imports where node:fs does not exist.
  const fs = await import("node:fs");
  const fsp = await import("node:fs/promises");
  const put = async (from: string, to: string, mode: number) => {
    await sfs.writeFile(to, await fs.openAsBlob(from), { mode: mode & 0o7777, signal });
  };
  const top = await fsp.stat(hostPath);
  if (top.isFile()) return put(hostPath, sandboxPath, top.mode);
  if (!top.isDirectory()) {
    throw new StrataError(
      "invalid_argument",
      `Cannot upload ${JSON.stringify(hostPath)}: it is neither a file nor a directory`,
    );
  }
  await sfs.mkdir(sandboxPath, { recursive: true, signal });
  const files: (() => Promise<void>)[] = [];
  const walk = async (from: string, to: string): Promise<void> => {
    for (const entry of await fsp.readdir(from, { withFileTypes: true })) {
      const src = join(from, entry.name);
      const dst = join(to, entry.name);
      if (entry.isDirectory()) {
        const st = await fsp.stat(src);
        await sfs.mkdir(dst, { mode: st.mode & 0o7777, signal });
        await walk(src, dst);
      } else if (entry.isFile()) {
        files.push(async () => put(src, dst, (await fsp.stat(src)).mode));
      }
    }
  };
  await walk(hostPath, sandboxPath);
  await pool(files);
}

/** Copies a sandbox file or directory to the host (see `SandboxFs.download`). */
export async function downloadPath(
  sfs: SandboxFs,
  sandboxPath: string,
  hostPath: string,
  signal: AbortSignal | undefined,
): Promise<void> {
  const fsp = await import("node:fs/promises");
  const get = async (from: string, to: string, mode: number) => {
    const res = await sfs.readFileStream(from, { signal });
    await fsp.writeFile(to, res.body ? chunksOf(res.body) : new Uint8Array(), { mode, signal });
    // writeFile's mode applies to new files only, through the umask.
    await fsp.chmod(to, mode);
  };
  const top = await sfs.stat(sandboxPath, { signal });
  if (top.isFile) return get(sandboxPath, hostPath, top.mode);
  if (!top.isDirectory) {
    throw new StrataError(
      "invalid_argument",
      `Cannot download ${JSON.stringify(sandboxPath)}: it is neither a file nor a directory`,
    );
  }
  await fsp.mkdir(hostPath, { recursive: true });
  const files: (() => Promise<void>)[] = [];
  const dirModes: [string, number][] = [];
  const walk = async (from: string, to: string): Promise<void> => {
    for (const entry of await sfs.readDir(from, { signal })) {
      const src = join(from, entry.name);
      const dst = join(to, entry.name);
      if (entry.isDirectory) {
        const st = await sfs.stat(src, { signal });
        await fsp.mkdir(dst);
        dirModes.push([dst, st.mode]);
        await walk(src, dst);
      } else if (entry.isFile) {
        files.push(async () => get(src, dst, (await sfs.stat(src, { signal })).mode));
      }
    }
  };
  await walk(sandboxPath, hostPath);
  await pool(files);
  // Modes last, deepest first: a read-only folder must not stop its own files being written.
  for (const [dir, mode] of dirModes.reverse()) await fsp.chmod(dir, mode);
}
