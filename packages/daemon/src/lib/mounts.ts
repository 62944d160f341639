import { readFile } from "node:fs/promises";
import { run } from "./exec.ts";

/** Mount points from the kernel's table (`/proc/self/mountinfo`), octal escapes decoded. */
export async function mountPoints(): Promise<string[]> {
  const table = await readFile("/proc/self/mountinfo", "utf8");
  return table
    .split("\n")
    .map((line) => line.split(" ")[4])
    .filter((p): p is string => p !== undefined && p !== "")
    .map((p) =>
      p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8))),
    );
}

export async function isMountPoint(path: string): Promise<boolean> {
  return (await mountPoints()).includes(path);
}

/**
 * Unmounts everything mounted strictly below `path`, deepest first. A killed image build
 * (mmdebstrap mounts /proc, /sys and /dev in its target) or a crashed sandbox can leave
 * such mounts, and btrfs cannot delete a subvolume that has one.
 */
export async function unmountBelow(path: string): Promise<void> {
  const below = (await mountPoints())
    .filter((m) => m.startsWith(`${path}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of below) await run(["umount", "--lazy", m]);
}

/**
 * Makes a folder traversable (not listable) by one group only: `root:<gid>` mode 0710.
 * Sandboxes' mapped root is that group on the host, and crun resolves the root filesystem
 * and volume paths with the sandbox's credentials, so every folder above them must let
 * it through, and nobody else.
 */
export async function restrictToGroup(path: string, gid: number): Promise<void> {
  const { chmod, chown } = await import("node:fs/promises");
  await chown(path, 0, gid);
  await chmod(path, 0o710);
}
