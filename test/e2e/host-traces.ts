import { readdir, readFile, readlink } from "node:fs/promises";
import { join } from "node:path";
import { run } from "../../packages/daemon/src/lib/exec.ts";

/** A process, told apart from a later one with the same pid by its start time. */
export interface ProcessId {
  pid: number;
  startTime: string;
  command: string;
}

async function stat(
  pid: number,
): Promise<{ state: string; ppid: number; startTime: string; command: string }> {
  const text = await readFile(`/proc/${pid}/stat`, "utf8");
  // The command is in parentheses and may hold spaces or parentheses itself.
  const close = text.lastIndexOf(")");
  const fields = text.slice(close + 2).split(" ");
  return {
    command: text.slice(text.indexOf("(") + 1, close),
    state: fields[0] ?? "",
    ppid: Number(fields[1]),
    startTime: fields[19] ?? "",
  };
}

async function pids(): Promise<number[]> {
  return (await readdir("/proc")).filter((p) => /^\d+$/.test(p)).map(Number);
}

/** The process `pid` and all its descendants, as they are now. */
export async function processTree(pid: number): Promise<ProcessId[]> {
  const all = new Map<number, { ppid: number; startTime: string; command: string }>();
  for (const p of await pids()) {
    const s = await stat(p).catch(() => undefined);
    if (s) all.set(p, s);
  }
  const tree: ProcessId[] = [];
  const visit = (p: number) => {
    const s = all.get(p);
    if (!s) return;
    tree.push({ pid: p, startTime: s.startTime, command: s.command });
    for (const [child, c] of all) if (c.ppid === p) visit(child);
  };
  visit(pid);
  return tree;
}

/**
 * What is left on the host of the daemon with `dataDir` and `prefix`: mounts under the data
 * dir or of its netns, a loop device on its pool image, netns, links, nft tables, cgroups,
 * and processes (those of `processes` still alive, or any whose root, working directory or
 * cgroup is the daemon's). Empty when nothing is.
 */
export async function leftovers(options: {
  dataDir: string;
  prefix: string;
  processes?: readonly ProcessId[];
}): Promise<string[]> {
  const { dataDir, prefix } = options;
  const found: string[] = [];
  const inDataDir = (p: string) => p === dataDir || p.startsWith(`${dataDir}/`);

  for (const line of (await readFile("/proc/self/mountinfo", "utf8")).split("\n")) {
    const point = line.split(" ")[4];
    if (point && (inDataDir(point) || point.startsWith(`/run/netns/${prefix}-`)))
      found.push(`mount ${point}`);
  }
  const image = join(dataDir, "pool.img");
  const loops = (await run(["losetup", "-j", image])).stdout.trim();
  if (loops) {
    // For the failure's message: a holder that lets go soon, or a leak.
    const since = performance.now();
    while (performance.now() - since < 5000 && (await run(["losetup", "-j", image])).stdout.trim())
      await new Promise((r) => setTimeout(r, 50));
    const later = (await run(["losetup", "-j", image])).stdout.trim();
    found.push(
      `loop device ${loops} (${later ? "still attached 5 s later" : `released ${Math.round(performance.now() - since)} ms later`})`,
    );
  }
  for (const n of await readdir("/run/netns").catch(() => [] as string[]))
    if (n.startsWith(`${prefix}-`)) found.push(`netns ${n}`);
  for (const line of (await run(["ip", "-o", "link", "show"])).stdout.split("\n")) {
    const name = /^\d+: ([^:@]+)/.exec(line)?.[1];
    if (name?.startsWith(prefix)) found.push(`link ${name}`);
  }
  for (const line of (await run(["nft", "list", "tables"])).stdout.split("\n"))
    if (line.split(" ").at(-1) === prefix) found.push(`nft ${line}`);
  const hierarchies = ["/sys/fs/cgroup"];
  for (const h of await readdir("/sys/fs/cgroup", { withFileTypes: true }))
    if (h.isDirectory()) hierarchies.push(join("/sys/fs/cgroup", h.name));
  for (const h of hierarchies) {
    const entries = await readdir(h).catch(() => [] as string[]);
    if (entries.includes(prefix)) found.push(`cgroup ${join(h, prefix)}`);
  }

  // crun's state and the bundles of the daemon's containers.
  const state = await readdir(join("/run", prefix), { recursive: true }).catch(() => undefined);
  if (state) found.push(`state folder /run/${prefix} [${state.join(", ")}]`);

  // A zombie is not counted: it holds nothing but its pid, and a sandbox's init (crun
  // detaches, so its parent is the host's init) waits there until the host's init reaps it.
  const alive = new Set<string>();
  for (const p of options.processes ?? []) {
    const now = await stat(p.pid).catch(() => undefined);
    if (now?.startTime === p.startTime && now.state !== "Z")
      alive.add(`process ${p.pid} (${p.command}, ${now.state})`);
  }
  for (const pid of await pids()) {
    if (pid === process.pid) continue;
    const root = await readlink(`/proc/${pid}/root`).catch(() => "");
    const cwd = await readlink(`/proc/${pid}/cwd`).catch(() => "");
    const cgroup = await readFile(`/proc/${pid}/cgroup`, "utf8").catch(() => "");
    const inCgroup = cgroup.split("\n").some((l) => {
      const path = l.split(":")[2] ?? "";
      return path === `/${prefix}` || path.startsWith(`/${prefix}/`);
    });
    if (inDataDir(root) || inDataDir(cwd) || inCgroup) {
      const s = await stat(pid).catch(() => undefined);
      if (s && s.state !== "Z")
        alive.add(`process ${pid} (${s.command}, ${s.state}, root ${root})`);
    }
  }
  found.push(...alive);
  return found;
}
