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
