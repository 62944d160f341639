import type { DoctorCheck, DoctorReport } from "@strata/api";

/** What the doctor looks at, gathered from the host by `gatherFacts()`. */
export interface HostFacts {
  uid: number;
  /** Tool name → whether it is on PATH. */
  tools: Record<string, boolean>;
  /** Filesystems the kernel knows (from /proc/filesystems). */
  filesystems: string[];
  maxUserNamespaces: number;
  loopControl: boolean;
  cgroup: CgroupFacts;
  /** Whether a pool is configured (then loop devices are not needed). */
  poolConfigured: boolean;
}

export interface CgroupFacts {
  /** `unified`: cgroup v2 only; `hybrid`: v1 controllers plus a v2 hierarchy; `legacy`: v1 only. */
  mode: "unified" | "hybrid" | "legacy";
  /** Controllers enabled in the v2 hierarchy (hybrid/unified). */
  v2Controllers: string[];
  /** Controllers mounted as v1 hierarchies. */
  v1Controllers: string[];
}

/** Debian package of each tool, for the fix line. */
const TOOLS: Record<string, { pkg: string; severity: "fatal" | "warn"; why: string }> = {
  btrfs: {
    pkg: "btrfs-progs",
    severity: "fatal",
    why: "volumes and snapshots are btrfs subvolumes",
  },
  "mkfs.btrfs": {
    pkg: "btrfs-progs",
    severity: "fatal",
    why: "the pool image is formatted with it",
  },
  mount: { pkg: "mount", severity: "fatal", why: "the pool image is loop-mounted" },
  mmdebstrap: { pkg: "mmdebstrap", severity: "warn", why: "builtin:debian-13 is built with it" },
  crun: { pkg: "crun", severity: "warn", why: "sandboxes run under it" },
  nft: { pkg: "nftables", severity: "warn", why: "sandbox networks are isolated with nftables" },
  ip: { pkg: "iproute2", severity: "warn", why: "sandbox networks are set up with it" },
  newuidmap: { pkg: "uidmap", severity: "warn", why: "sandboxes run in user namespaces" },
};

/** Pure: turns host facts into the doctor's checks, each with a fix when it fails. */
export function evaluate(f: HostFacts): DoctorReport {
  const checks: DoctorCheck[] = [];
  const add = (c: DoctorCheck) => checks.push(c);

  add({
    name: "root",
    ok: f.uid === 0,
    severity: "fatal",
    detail:
      f.uid === 0
        ? "running as root"
        : `running as uid ${f.uid}; stratad manages mounts, subvolumes and namespaces`,
    fix: f.uid === 0 ? null : "Run stratad as root (sudo npm start)",
  });
  const missing = new Map<string, string[]>();
  for (const [tool, t] of Object.entries(TOOLS)) {
    const ok = f.tools[tool] === true;
    add({
      name: `tool:${tool}`,
      ok,
      severity: t.severity,
      detail: ok ? `${tool} found` : `${tool} is not on PATH; ${t.why}`,
      fix: ok ? null : `apt-get install -y ${t.pkg}`,
    });
    if (!ok) missing.set(t.pkg, [...(missing.get(t.pkg) ?? []), tool]);
  }
  add({
    name: "kernel:btrfs",
    ok: f.filesystems.includes("btrfs"),
    severity: "fatal",
    detail: f.filesystems.includes("btrfs")
      ? "btrfs is available"
      : "the kernel does not list btrfs in /proc/filesystems",
    fix: f.filesystems.includes("btrfs")
      ? null
      : "modprobe btrfs (or install a kernel with CONFIG_BTRFS_FS)",
  });
  add({
    name: "kernel:overlay",
    ok: f.filesystems.includes("overlay"),
    severity: "warn",
    detail: f.filesystems.includes("overlay")
      ? "overlayfs is available"
      : "the kernel does not list overlay in /proc/filesystems",
    fix: f.filesystems.includes("overlay") ? null : "modprobe overlay",
  });
  add({
    name: "kernel:user-namespaces",
    ok: f.maxUserNamespaces > 0,
    severity: "warn",
    detail:
      f.maxUserNamespaces > 0
        ? `user namespaces enabled (max ${f.maxUserNamespaces})`
        : "user namespaces are disabled; sandboxes need them",
    fix: f.maxUserNamespaces > 0 ? null : "sysctl -w user.max_user_namespaces=15000",
  });
  if (!f.poolConfigured) {
    add({
      name: "kernel:loop",
      ok: f.loopControl,
      severity: "fatal",
      detail: f.loopControl
        ? "loop devices are available for the pool image"
        : "/dev/loop-control is missing, so the pool image cannot be mounted",
      fix: f.loopControl ? null : "modprobe loop, or pass --pool with an existing btrfs mount",
    });
  }
  add(cgroupCheck(f.cgroup));
  return { ok: checks.every((c) => c.ok || c.severity === "warn"), checks };
}

function cgroupCheck(c: CgroupFacts): DoctorCheck {
  const base = { name: "cgroups", severity: "warn" as const };
  if (c.mode === "unified") return { ...base, ok: true, detail: "cgroup v2 (unified)", fix: null };
  if (c.mode === "legacy")
    return { ...base, ok: true, detail: `cgroup v1 (${c.v1Controllers.join(", ")})`, fix: null };
  const stray = c.v2Controllers.filter((x) => !c.v1Controllers.includes(x));
  if (stray.length === 0) {
    return {
      ...base,
      ok: true,
      detail: `hybrid cgroups: v1 controllers (${c.v1Controllers.join(", ")}) plus an empty v2 hierarchy`,
      fix: null,
    };
  }
  return {
    ...base,
    ok: false,
    detail: `hybrid cgroups with controllers only in the v2 hierarchy (${stray.join(", ")}); crun refuses this layout`,
    fix: `stratad moves them to v1 hierarchies when it starts sandboxes; by hand: mkdir -p /sys/fs/cgroup/${stray[0]} && mount -t cgroup -o ${stray[0]} cgroup /sys/fs/cgroup/${stray[0]}`,
  };
}
