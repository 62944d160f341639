import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { run } from "../lib/exec.ts";

/**
 * Makes the host's cgroup layout one crun accepts. On hybrid hosts (v1 controllers plus a
 * v2 hierarchy) crun refuses to run while a controller is bound to the v2 hierarchy only
 * (these machines ship `hugetlb` that way); such a controller is idle, so it is moved to
 * a v1 hierarchy of its own. Returns the controllers it moved.
 */
export async function prepareCgroups(): Promise<string[]> {
  const mounts = (await readFile("/proc/self/mounts", "utf8")).split("\n").map((l) => l.split(" "));
  const v2 = mounts.find((m) => m[2] === "cgroup2");
  const v1 = mounts.filter((m) => m[2] === "cgroup");
  if (!v2 || v1.length === 0) return []; // unified or legacy: nothing to fix
  const v2Path = v2[1]!;
  const listed = (
    await readFile(join(v2Path, "cgroup.controllers"), "utf8").catch(() => "")
  ).trim();
  const moved: string[] = [];
  for (const controller of listed.split(/\s+/).filter(Boolean)) {
    const target = join("/sys/fs/cgroup", controller);
    await mkdir(target, { recursive: true });
    await run(["mount", "-t", "cgroup", "-o", controller, "cgroup", target]);
    moved.push(controller);
  }
  return moved;
}

/** The process's hard limit on open files, from /proc/self/limits. */
export async function hardNofileLimit(): Promise<number> {
  const text = await readFile("/proc/self/limits", "utf8");
  const m = /^Max open files\s+\S+\s+(\S+)/m.exec(text);
  const v = m?.[1];
  return v === undefined || v === "unlimited" ? 1_048_576 : Number(v);
}

/**
 * Removes the daemon's parent cgroup (`/<prefix>`) from every hierarchy once its sandboxes
 * are gone; crun removes each sandbox's own cgroup but not the parent it created.
 */
export async function removeCgroupParent(prefix: string): Promise<void> {
  const { rmdir } = await import("node:fs/promises");
  const mounts = (await readFile("/proc/self/mounts", "utf8")).split("\n").map((l) => l.split(" "));
  for (const m of mounts.filter((x) => x[2] === "cgroup" || x[2] === "cgroup2")) {
    await rmdir(join(m[1]!, prefix)).catch(() => {}); // missing, or still busy: nothing to do
  }
}
