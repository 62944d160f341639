import { access, constants, readFile, statfs } from "node:fs/promises";
import { join } from "node:path";
import type { CgroupFacts, HostFacts } from "./checks.ts";

const CGROUP2_SUPER_MAGIC = 0x63677270;

/** Reads the facts the doctor evaluates from this host. */
export async function gatherFacts(options: { poolConfigured: boolean }): Promise<HostFacts> {
  const tools: Record<string, boolean> = {};
  for (const t of ["btrfs", "mkfs.btrfs", "mount", "mmdebstrap", "crun", "nft", "ip", "newuidmap"])
    tools[t] = await onPath(t);
  const filesystems = (await readFile("/proc/filesystems", "utf8").catch(() => ""))
    .split("\n")
    .map((l) => l.trim().split(/\s+/).at(-1) ?? "")
    .filter(Boolean);
  const maxUserNamespaces = Number(
    (await readFile("/proc/sys/user/max_user_namespaces", "utf8").catch(() => "0")).trim(),
  );
  return {
    uid: process.getuid?.() ?? -1,
    tools,
    filesystems,
    maxUserNamespaces,
    loopControl: await access("/dev/loop-control").then(
      () => true,
      () => false,
    ),
    cgroup: await cgroupFacts(),
    poolConfigured: options.poolConfigured,
  };
}

async function onPath(tool: string): Promise<boolean> {
  for (const dir of (process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin")
    .split(":")
    .concat(["/usr/sbin", "/sbin"])) {
    if (
      await access(join(dir, tool), constants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return true;
  }
  return false;
}

async function cgroupFacts(): Promise<CgroupFacts> {
  const root = await statfs("/sys/fs/cgroup").catch(() => null);
  if (root?.type === CGROUP2_SUPER_MAGIC) {
    const ctl = await readFile("/sys/fs/cgroup/cgroup.controllers", "utf8").catch(() => "");
    return {
      mode: "unified",
      v2Controllers: ctl.trim().split(/\s+/).filter(Boolean),
      v1Controllers: [],
    };
  }
  const mounts = (await readFile("/proc/self/mounts", "utf8")).split("\n").map((l) => l.split(" "));
  const v1Controllers = mounts
    .filter((m) => m[2] === "cgroup")
    .flatMap((m) => (m[3] ?? "").split(","))
    .filter(
      (o) =>
        !["rw", "ro", "relatime", "nosuid", "nodev", "noexec"].includes(o) &&
        !o.startsWith("name="),
    );
  const v2Mount = mounts.find((m) => m[2] === "cgroup2")?.[1];
  if (!v2Mount) return { mode: "legacy", v2Controllers: [], v1Controllers };
  const ctl = await readFile(join(v2Mount, "cgroup.controllers"), "utf8").catch(() => "");
  return { mode: "hybrid", v2Controllers: ctl.trim().split(/\s+/).filter(Boolean), v1Controllers };
}
