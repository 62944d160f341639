/**
 * Pure builder of the OCI runtime `config.json` for a sandbox. Every isolation decision is
 * here, in one place, and checked by fixture tests: user namespace with a fixed id map,
 * the namespaces, capabilities, seccomp, masked paths, cgroup limits and mounts.
 */

/** Container root (uid/gid 0) is this host uid/gid; the map covers 65536 ids. */
export const SANDBOX_ID_BASE = 100_000;
export const SANDBOX_ID_COUNT = 65_536;

export interface SandboxSpecInput {
  id: string;
  hostname: string;
  /** Host path of the root filesystem (a writable layer). */
  rootPath: string;
  /** Host path of the agent binary, mounted read-only at /.strata/agent. */
  agentPath: string;
  /** Host files bind-mounted read-only over /etc/resolv.conf, /etc/hosts, /etc/hostname. */
  etc: { resolvConf: string; hosts: string; hostname: string };
  /** Extra volumes: host path → absolute path in the sandbox. */
  mounts: { source: string; destination: string }[];
  /** Path of the network namespace to join (`/run/netns/<name>`). */
  netnsPath: string;
  /** Path of the cgroup, the same in every v1 hierarchy (or the v2 tree). */
  cgroupsPath: string;
  limits: { memoryBytes: number; cpus: number; pids: number };
  /** Hard limit on open files: never above the daemon's own hard limit. */
  nofile: number;
  env: Record<string, string>;
  /**
   * Host path of the CA certificates the sandbox trusts on top of its image's (those of
   * the host beyond the public roots, in a file the daemon writes): mounted read-only at
   * {@link HOST_CA_PATH}, and added by the agent to the sandbox's system store at start.
   * Undefined: the agent takes out what an earlier start added.
   */
  hostCa?: string | undefined;
}

/** Where a sandbox sees the host's CA certificates (read-only; the runtime's, not the image's). */
export const HOST_CA_PATH = "/.strata/ca-certificates.crt";
/** The system bundle the agent completes with the host's CAs (Debian's, also Alpine's). */
export const SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";

/**
 * Variables every command of a sandbox that trusts the host's CAs starts with, for tools
 * that do not read the system store or read it from elsewhere: the completed store for
 * those that replace their list (OpenSSL's, Python's requests), the host's few for those
 * that add to a bundled one (Node, Deno). `sudo` resets them; the system store covers
 * what runs under it.
 */
export function trustEnv(hostCa: boolean): Record<string, string> {
  if (!hostCa) return {};
  return {
    SSL_CERT_FILE: SYSTEM_CA_BUNDLE,
    REQUESTS_CA_BUNDLE: SYSTEM_CA_BUNDLE,
    NODE_EXTRA_CA_CERTS: HOST_CA_PATH,
    DENO_CERT: HOST_CA_PATH,
  };
}

/** Capabilities of root inside a sandbox: Docker's default set without NET_RAW and MKNOD. */
export const CAPABILITIES = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FSETID",
  "CAP_FOWNER",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETFCAP",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_KILL",
  "CAP_AUDIT_WRITE",
] as const;

const MASKED_PATHS = [
  "/proc/acpi",
  "/proc/asound",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/sys/firmware",
  "/sys/devices/virtual/powercap",
];

const READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

export function buildSandboxSpec(input: SandboxSpecInput): Record<string, unknown> {
  const idMap = [{ containerID: 0, hostID: SANDBOX_ID_BASE, size: SANDBOX_ID_COUNT }];
  const env = Object.entries(input.env).map(([k, v]) => `${k}=${v}`);
  return {
    ociVersion: "1.0.2",
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      // The agent always gets --host-ca, so that a root started without one loses what an
      // earlier start added.
      args: ["/.strata/agent", `--host-ca=${input.hostCa === undefined ? "" : HOST_CA_PATH}`],
      env,
      cwd: "/",
      capabilities: {
        bounding: [...CAPABILITIES],
        effective: [...CAPABILITIES],
        permitted: [...CAPABILITIES],
      },
      rlimits: [{ type: "RLIMIT_NOFILE", hard: input.nofile, soft: Math.min(1024, input.nofile) }],
      noNewPrivileges: true,
      // No oomScoreAdj: lowering it is not allowed inside the user namespace. The agent keeps
      // the daemon's score and raises every command to 500, so the OOM killer picks those.
    },
    root: { path: input.rootPath, readonly: false },
    hostname: input.hostname,
    mounts: [
      {
        destination: "/proc",
        type: "proc",
        source: "proc",
        options: ["nosuid", "noexec", "nodev"],
      },
      {
        destination: "/dev",
        type: "tmpfs",
        source: "tmpfs",
        options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
      },
      {
        destination: "/dev/pts",
        type: "devpts",
        source: "devpts",
        options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"],
      },
      {
        destination: "/dev/shm",
        type: "tmpfs",
        source: "shm",
        options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
      },
      {
        destination: "/dev/mqueue",
        type: "mqueue",
        source: "mqueue",
        options: ["nosuid", "noexec", "nodev"],
      },
      // A fresh sysfs needs a network namespace owned by the sandbox's user namespace; ours
      // is made by the host, so /sys is the host's, bound read-only.
      {
        destination: "/sys",
        type: "bind",
        source: "/sys",
        options: ["rbind", "nosuid", "noexec", "nodev", "ro"],
      },
      {
        destination: "/tmp",
        type: "tmpfs",
        source: "tmpfs",
        options: ["nosuid", "nodev", "mode=1777"],
      },
      {
        destination: "/run",
        type: "tmpfs",
        source: "tmpfs",
        options: ["nosuid", "nodev", "mode=755"],
      },
      {
        destination: "/.strata/agent",
        type: "bind",
        source: input.agentPath,
        options: ["bind", "ro", "nosuid", "nodev"],
      },
      {
        destination: "/etc/resolv.conf",
        type: "bind",
        source: input.etc.resolvConf,
        options: ["bind", "ro", "nosuid", "nodev", "noexec"],
      },
      {
        destination: "/etc/hosts",
        type: "bind",
        source: input.etc.hosts,
        options: ["bind", "ro", "nosuid", "nodev", "noexec"],
      },
      {
        destination: "/etc/hostname",
        type: "bind",
        source: input.etc.hostname,
        options: ["bind", "ro", "nosuid", "nodev", "noexec"],
      },
      ...(input.hostCa === undefined
        ? []
        : [
            {
              destination: HOST_CA_PATH,
              type: "bind",
              source: input.hostCa,
              options: ["bind", "ro", "nosuid", "nodev", "noexec"],
            },
          ]),
      ...input.mounts.map((m) => ({
        destination: m.destination,
        type: "bind",
        source: m.source,
        options: ["rbind", "rw", "nosuid", "nodev"],
      })),
    ],
    linux: {
      uidMappings: idMap,
      gidMappings: idMap,
      namespaces: [
        { type: "pid" },
        { type: "network", path: input.netnsPath },
        { type: "ipc" },
        { type: "uts" },
        { type: "mount" },
        { type: "user" },
        { type: "cgroup" },
      ],
      cgroupsPath: input.cgroupsPath,
      resources: {
        devices: [{ allow: false, access: "rwm" }],
        memory: { limit: input.limits.memoryBytes, swap: input.limits.memoryBytes },
        cpu: { quota: Math.round(input.limits.cpus * 100_000), period: 100_000 },
        pids: { limit: input.limits.pids },
      },
      seccomp: buildSeccomp(),
      maskedPaths: MASKED_PATHS,
      readonlyPaths: READONLY_PATHS,
    },
  };
}

/** Syscalls a sandbox never needs and that widen the kernel's attack surface (cf. Docker's default profile). */
export const DENIED_SYSCALLS = [
  "acct",
  "add_key",
  "bpf",
  "clock_adjtime",
  "clock_settime",
  "create_module",
  "delete_module",
  "finit_module",
  "fsconfig",
  "fsmount",
  "fsopen",
  "fspick",
  "get_kernel_syms",
  "get_mempolicy",
  "init_module",
  "io_uring_enter",
  "io_uring_register",
  "io_uring_setup",
  "kcmp",
  "kexec_file_load",
  "kexec_load",
  "keyctl",
  "lookup_dcookie",
  "mbind",
  "mount",
  "mount_setattr",
  "move_mount",
  "move_pages",
  "name_to_handle_at",
  "nfsservctl",
  "open_by_handle_at",
  "open_tree",
  "perf_event_open",
  "personality",
  "pivot_root",
  "process_vm_readv",
  "process_vm_writev",
  "ptrace",
  "query_module",
  "quotactl",
  "reboot",
  "request_key",
  "set_mempolicy",
  "setns",
  "settimeofday",
  "stime",
  "swapoff",
  "swapon",
  "sysfs",
  "_sysctl",
  "umount",
  "umount2",
  "unshare",
  "uselib",
  "userfaultfd",
  "ustat",
  "vm86",
  "vm86old",
];

/** CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME. */
const CLONE_NAMESPACE_FLAGS = [
  0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000, 0x00000080,
];

/**
 * BTRFS_IOC_SNAP_CREATE, SUBVOL_CREATE, SNAP_CREATE_V2, SUBVOL_CREATE_V2, SNAP_DESTROY and
 * SNAP_DESTROY_V2 (`_IOW(0x94, n, …)`; the same numbers on 32-bit x86, the argument
 * structs having fixed sizes).
 */
const BTRFS_SUBVOLUME_IOCTLS = [
  0x50009401, 0x5000940e, 0x50009417, 0x50009418, 0x5000940f, 0x5000943f,
];

function buildSeccomp(): Record<string, unknown> {
  return {
    defaultAction: "SCMP_ACT_ALLOW",
    architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    syscalls: [
      { names: DENIED_SYSCALLS, action: "SCMP_ACT_ERRNO", errnoRet: 1 },
      // New namespaces (a nested user namespace especially) are the usual first step of a
      // kernel exploit; plain fork/thread clones stay allowed.
      // One rule per flag: rules of a syscall are ORed, and MASKED_EQ(flag, flag) means "flag set".
      ...CLONE_NAMESPACE_FLAGS.map((flag) => ({
        names: ["clone"],
        action: "SCMP_ACT_ERRNO",
        errnoRet: 1,
        args: [{ index: 0, value: flag, valueTwo: flag, op: "SCMP_CMP_MASKED_EQ" }],
      })),
      // clone3 passes its flags in memory seccomp cannot read: ENOSYS makes libc fall back to clone.
      { names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: 38 },
      // A subvolume or snapshot made inside a root or a volume has a qgroup of its own, so
      // what is written into it would escape their capacity: EPERM, as for an unprivileged
      // user on a filesystem that does not allow it.
      ...BTRFS_SUBVOLUME_IOCTLS.map((request) => ({
        names: ["ioctl"],
        action: "SCMP_ACT_ERRNO",
        errnoRet: 1,
        args: [{ index: 1, value: request, op: "SCMP_CMP_EQ" }],
      })),
    ],
  };
}

/** crun's annotation for a seccomp filter compiled ahead (base64 of the raw BPF program). */
export const SECCOMP_BPF_ANNOTATION = "run.oci.seccomp_bpf_data";

/**
 * The same config, with the seccomp filter crun compiled from its `linux.seccomp` profile
 * for an earlier container given as `run.oci.seccomp_bpf_data`: crun loads that program
 * as it is instead of compiling the profile again with libseccomp (a few ms per start).
 * The profile stays in the config, so the spec still says what the filter is.
 */
export function withCompiledSeccomp(
  config: Record<string, unknown>,
  bpf: Uint8Array,
): Record<string, unknown> {
  const annotations = (config.annotations ?? {}) as Record<string, string>;
  return {
    ...config,
    annotations: { ...annotations, [SECCOMP_BPF_ANNOTATION]: Buffer.from(bpf).toString("base64") },
  };
}

/** The key under which a compiled filter of this config's profile may be reused. */
export function seccompKey(config: Record<string, unknown>): string {
  const linux = config.linux as { seccomp?: unknown } | undefined;
  return JSON.stringify(linux?.seccomp ?? null);
}
