import assert from "node:assert/strict";
import { test } from "node:test";
import { crunArgv } from "./crun.ts";
import {
  buildSandboxSpec,
  CAPABILITIES,
  HOST_CA_PATH,
  SANDBOX_ID_BASE,
  type SandboxSpecInput,
  SECCOMP_BPF_ANNOTATION,
  SYSTEM_CA_BUNDLE,
  seccompKey,
  trustEnv,
  withCompiledSeccomp,
} from "./oci-spec.ts";

const input: SandboxSpecInput = {
  id: "sbx_0123456789abcdefghjk",
  hostname: "sandbox",
  rootPath: "/pool/writable/sbx_0123456789abcdefghjk",
  agentPath: "/opt/strata/strata-agent",
  etc: { resolvConf: "/run/b/resolv.conf", hosts: "/run/b/hosts", hostname: "/run/b/hostname" },
  mounts: [{ source: "/pool/writable/vol_1", destination: "/data" }],
  netnsPath: "/run/netns/strata-0123456789",
  cgroupsPath: "/strata/sbx_0123456789abcdefghjk",
  limits: { memoryBytes: 1024 ** 3, cpus: 1.5, pids: 1024 },
  nofile: 20000,
  env: { FOO: "bar" },
};

type Spec = {
  process: {
    args: string[];
    env: string[];
    capabilities: Record<string, string[]>;
    noNewPrivileges: boolean;
    rlimits: { type: string; hard: number; soft: number }[];
  };
  root: { path: string; readonly: boolean };
  mounts: { destination: string; source: string; type: string; options: string[] }[];
  linux: {
    uidMappings: { containerID: number; hostID: number; size: number }[];
    namespaces: { type: string; path?: string }[];
    resources: {
      memory: { limit: number };
      cpu: { quota: number; period: number };
      pids: { limit: number };
    };
    seccomp: {
      defaultAction: string;
      syscalls: {
        names: string[];
        action: string;
        args?: { value: number; valueTwo: number; op: string }[];
      }[];
    };
    maskedPaths: string[];
    readonlyPaths: string[];
  };
};
const spec = buildSandboxSpec(input) as unknown as Spec;

test("buildSandboxSpec() maps container root to an unprivileged host uid range", () => {
  assert.deepEqual(spec.linux.uidMappings, [
    { containerID: 0, hostID: SANDBOX_ID_BASE, size: 65536 },
  ]);
  assert.ok(SANDBOX_ID_BASE >= 100_000);
});

test("buildSandboxSpec() isolates every namespace and joins the prepared network namespace", () => {
  const types = spec.linux.namespaces.map((n) => n.type).sort();
  assert.deepEqual(types, ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"]);
  assert.equal(spec.linux.namespaces.find((n) => n.type === "network")?.path, input.netnsPath);
});

test("buildSandboxSpec() runs the agent as PID 1 with no new privileges and a minimal capability set", () => {
  assert.deepEqual(spec.process.args, ["/.strata/agent", "--host-ca="]);
  assert.equal(spec.process.noNewPrivileges, true);
  for (const set of ["bounding", "effective", "permitted"])
    assert.deepEqual(spec.process.capabilities[set], [...CAPABILITIES]);
  for (const dangerous of [
    "CAP_SYS_ADMIN",
    "CAP_NET_ADMIN",
    "CAP_SYS_PTRACE",
    "CAP_SYS_MODULE",
    "CAP_NET_RAW",
    "CAP_MKNOD",
  ]) {
    assert.ok(!(CAPABILITIES as readonly string[]).includes(dangerous), dangerous);
  }
  assert.deepEqual(spec.process.env, ["FOO=bar"]);
});

test("buildSandboxSpec() never asks for more open files than the daemon's hard limit", () => {
  assert.deepEqual(spec.process.rlimits, [{ type: "RLIMIT_NOFILE", hard: 20000, soft: 1024 }]);
});

test("buildSandboxSpec() enforces memory, cpu and pids limits through cgroups", () => {
  assert.equal(spec.linux.resources.memory.limit, 1024 ** 3);
  assert.deepEqual(spec.linux.resources.cpu, { quota: 150_000, period: 100_000 });
  assert.equal(spec.linux.resources.pids.limit, 1024);
});

test("buildSandboxSpec() mounts the agent and /etc files read-only and volumes read-write", () => {
  const byDest = new Map(spec.mounts.map((m) => [m.destination, m]));
  assert.equal(byDest.get("/.strata/agent")?.source, input.agentPath);
  assert.ok(byDest.get("/.strata/agent")?.options.includes("ro"));
  for (const f of ["/etc/resolv.conf", "/etc/hosts", "/etc/hostname"])
    assert.ok(byDest.get(f)?.options.includes("ro"), f);
  assert.ok(byDest.get("/data")?.options.includes("rw"));
  assert.ok(byDest.get("/sys")?.options.includes("ro"));
  assert.equal(spec.root.readonly, false);
});

test("buildSandboxSpec() masks kernel paths and denies dangerous syscalls and namespace clones", () => {
  assert.ok(spec.linux.maskedPaths.includes("/proc/kcore"));
  assert.ok(spec.linux.readonlyPaths.includes("/proc/sys"));
  assert.equal(spec.linux.seccomp.defaultAction, "SCMP_ACT_ALLOW");
  const denied = spec.linux.seccomp.syscalls
    .filter((s) => s.action === "SCMP_ACT_ERRNO" && !s.args)
    .flatMap((s) => s.names);
  for (const sc of ["mount", "unshare", "setns", "bpf", "keyctl", "kexec_load", "ptrace", "clone3"])
    assert.ok(denied.includes(sc), sc);
  const cloneRules = spec.linux.seccomp.syscalls.filter((s) => s.names.includes("clone"));
  const CLONE_NEWUSER = 0x10000000;
  assert.ok(
    cloneRules.some(
      (r) =>
        r.args?.[0]?.value === CLONE_NEWUSER &&
        r.args[0].valueTwo === CLONE_NEWUSER &&
        r.args[0].op === "SCMP_CMP_MASKED_EQ",
    ),
  );
});

test("crunArgv.run() detaches and hands fd 3 to the container", () => {
  assert.deepEqual(crunArgv.run("/run/s/crun", "/run/s/bundles/x", "x"), [
    "crun",
    "--root",
    "/run/s/crun",
    "run",
    "--detach",
    "--preserve-fds",
    "1",
    "--bundle",
    "/run/s/bundles/x",
    "x",
  ]);
});

test("withCompiledSeccomp() adds crun's BPF annotation and keeps the profile", () => {
  const config = buildSandboxSpec(input);
  const bpf = Buffer.from([0x06, 0, 0, 0, 0, 0, 0xff, 0x7f]);
  const out = withCompiledSeccomp(config, bpf);
  assert.deepEqual(out.annotations, { [SECCOMP_BPF_ANNOTATION]: bpf.toString("base64") });
  assert.deepEqual(
    (out.linux as { seccomp: unknown }).seccomp,
    (config.linux as { seccomp: unknown }).seccomp,
  );
  assert.equal(seccompKey(out), seccompKey(config), "the same profile, the same key");
  assert.equal(config.annotations, undefined, "the input is not changed");
});

test("buildSandboxSpec() mounts the host's CA file read-only at a fixed path and tells the agent to add it to the store", () => {
  const withCa = buildSandboxSpec({
    ...input,
    hostCa: "/etc/ssl/certs/ca-certificates.crt",
  }) as unknown as Spec;
  const ca = withCa.mounts.filter((m) => m.destination === HOST_CA_PATH);
  assert.deepEqual(ca, [
    {
      destination: "/.strata/ca-certificates.crt",
      type: "bind",
      source: "/etc/ssl/certs/ca-certificates.crt",
      options: ["bind", "ro", "nosuid", "nodev", "noexec"],
    },
  ]);
  assert.deepEqual(withCa.process.args, [
    "/.strata/agent",
    "--host-ca=/.strata/ca-certificates.crt",
  ]);
});

test("buildSandboxSpec() without a host CA file mounts none and has the agent take out an earlier start's", () => {
  assert.ok(!spec.mounts.some((m) => m.destination === HOST_CA_PATH));
  assert.deepEqual(spec.process.args, ["/.strata/agent", "--host-ca="]);
});

test("trustEnv() points the usual variables at the completed system store and the host's file", () => {
  assert.deepEqual(trustEnv(true), {
    SSL_CERT_FILE: SYSTEM_CA_BUNDLE,
    REQUESTS_CA_BUNDLE: SYSTEM_CA_BUNDLE,
    NODE_EXTRA_CA_CERTS: HOST_CA_PATH,
    DENO_CERT: HOST_CA_PATH,
  });
  assert.equal(SYSTEM_CA_BUNDLE, "/etc/ssl/certs/ca-certificates.crt");
  assert.deepEqual(trustEnv(false), {});
});
