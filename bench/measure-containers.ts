import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { shiftIds } from "../packages/daemon/src/lib/shift-ids.ts";
import { hasCommand, run, timed } from "./host.ts";
import type { Context } from "./measure-strata.ts";
import type { PodmanScratch } from "./podman.ts";

/** The sandboxes' root user on the host: the image layer's files are owned from here up. */
const SANDBOX_ROOT_ID = 100_000;

/** Timings of one way of running `echo hi` in a fresh container, or why it could not run. */
export interface RunCycle {
  label: string;
  /** The command line, as run. */
  command: string;
  ms: number[];
  /** Why it could not be measured (the tool's own error), or null. */
  error: string | null;
  /** What had to be added for it to run at all, and why. */
  notes: string[];
}

/**
 * A root-owned copy of the builtin:debian-13 image layer: the same files the sandboxes
 * boot, with the owners shifted back from the sandboxes' user namespace (uid 100000 → 0),
 * since neither podman here nor the floor use a user namespace.
 */
export async function copyImageRootfs(layerPath: string, dest: string): Promise<void> {
  await run(["cp", "-a", layerPath, dest]);
  await shiftIds(dest, -SANDBOX_ROOT_ID);
}

/** Imports the rootfs copy into podman as an image of this run. */
export async function importPodmanImage(
  scratch: PodmanScratch,
  rootfs: string,
  workDir: string,
  signal?: AbortSignal,
): Promise<string> {
  const tar = join(workDir, "trixie.tar");
  try {
    await run(["tar", "-C", rootfs, "--numeric-owner", "-cf", tar, "."], signal);
    return await scratch.importImage(tar, "trixie", signal);
  } finally {
    await rm(tar, { force: true });
  }
}

/** `--ulimit` flags tried in turn until `podman run` works; see {@link measurePodmanRun}. */
const ULIMIT_ATTEMPTS: readonly (readonly string[])[] = [
  [],
  ["--ulimit", "nofile=1024:1024"],
  ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"],
];

/**
 * `podman run --rm <image> echo hi`, `runs` times after two warm-up runs, with podman's
 * default network or none. podman sets rlimits above this host's hard limits by default,
 * which fails without CAP_SYS_RESOURCE; the first of {@link ULIMIT_ATTEMPTS} that runs is
 * used, and the errors of those that did not are noted.
 */
export async function measurePodmanRun(
  scratch: PodmanScratch,
  image: string,
  options: { runs: number; network: "default" | "none"; ctx: Context },
): Promise<RunCycle> {
  const { runs, network, ctx } = options;
  const label =
    network === "none" ? "podman run --rm, --network none" : "podman run --rm (default network)";
  const netFlags = network === "none" ? ["--network", "none"] : [];
  const notes: string[] = [];
  let flags: string[] | undefined;
  let lastError = "";
  for (const [i, ulimits] of ULIMIT_ATTEMPTS.entries()) {
    const tryFlags = [...netFlags, ...ulimits];
    try {
      await echoHi(() => scratch.runRm(image, `probe-${network}-${i}`, { flags: tryFlags, argv }));
      flags = tryFlags;
      break;
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
      notes.push(`without more flags than ${JSON.stringify(tryFlags.join(" "))}: ${lastError}`);
    }
  }
  const command = `podman run --rm ${flags ? `${flags.join(" ")} ` : ""}${image} echo hi`;
  if (!flags) return { label, command, ms: [], error: lastError, notes };

  ctx.log(`podman: ${runs} × ${command}`);
  const ms: number[] = [];
  for (let i = -2; i < runs; i++) {
    ctx.signal.throwIfAborted();
    const t = await timed(() =>
      echoHi(() => scratch.runRm(image, `run-${network}-${i + 2}`, { flags, argv })),
    );
    if (i >= 0) ms.push(t.ms);
  }
  return { label, command, ms, error: null, notes };
}

const argv = ["echo", "hi"] as const;

async function echoHi(fn: () => Promise<string>): Promise<void> {
  const out = await fn();
  if (out !== "hi\n") throw new Error(`echo hi printed ${JSON.stringify(out)}`);
}

/** The floor bundle and a description of exactly what it sets up. */
export interface Floor {
  bundle: string;
  stateRoot: string;
  /** What one run creates, for the printout. */
  includes: string;
}

/**
 * The floor: an OCI bundle from `crun spec` (crun's own defaults) with only the command,
 * the terminal and the root changed, run with `crun run` in the foreground. No network
 * setup beyond an empty namespace, no user namespace, no seccomp, no resource limits.
 */
export async function prepareFloor(rootfs: string, dir: string): Promise<Floor | string> {
  if (!(await hasCommand("crun"))) return "crun is not installed";
  const bundle = join(dir, "floor-bundle");
  const stateRoot = join(dir, "floor-crun-state");
  await mkdir(bundle, { recursive: true });
  await mkdir(stateRoot, { recursive: true, mode: 0o700 });
  const file = join(bundle, "config.json");
  await run(["crun", "spec", "-f", file]);
  const spec = JSON.parse(await readFile(file, "utf8")) as {
    process: { terminal: boolean; args: string[] };
    root: { path: string; readonly: boolean };
    mounts: { destination: string }[];
    linux: { namespaces: { type: string }[]; seccomp?: unknown; uidMappings?: unknown };
  };
  spec.process.terminal = false;
  spec.process.args = [...argv];
  spec.root.path = rootfs;
  await writeFile(file, JSON.stringify(spec, null, 2));

  // One run that shows which cgroup crun put the process in (crun spec sets no cgroupsPath).
  const probeId = `strata-bench-${process.pid}-floor-probe`;
  spec.process.args = ["cat", "/proc/self/cgroup"];
  await writeFile(join(bundle, "probe.json"), JSON.stringify(spec));
  const cgroups = await run([
    "crun",
    "--root",
    stateRoot,
    "run",
    "--config",
    join(bundle, "probe.json"),
    "--bundle",
    bundle,
    probeId,
  ]).finally(() =>
    run(["crun", "--root", stateRoot, "delete", "--force", probeId]).catch(() => {}),
  );
  const memoryCgroup = /^\d+:memory:(\S+)$/m.exec(cgroups)?.[1] ?? "none found";

  const includes = [
    `crun spec defaults (crun ${await crunVersion()}): namespaces ${spec.linux.namespaces.map((n) => n.type).join(", ")}`,
    "(a new, empty network namespace: no veth, bridge, address or nft rules; no user namespace);",
    `${spec.mounts.length} mounts (${spec.mounts.map((m) => m.destination).join(" ")}), pivot_root into a`,
    "read-only root that is a plain copy of the image outside the pool (no snapshot per run);",
    `no seccomp; cgroups: crun's default per container (memory cgroup seen inside: ${memoryCgroup}),`,
    "devices rule only, no limits; `crun run` in the foreground, which deletes the container on exit.",
  ].join("\n  ");
  return { bundle, stateRoot, includes };
}

async function crunVersion(): Promise<string> {
  const out = await run(["crun", "--version"]);
  return /crun version (\S+)/.exec(out)?.[1] ?? "?";
}

/** `crun run` of the floor bundle, `runs` times after two warm-up runs. */
export async function measureFloor(floor: Floor, runs: number, ctx: Context): Promise<RunCycle> {
  ctx.log(`crun floor: ${runs} × crun run (echo hi)`);
  const ms: number[] = [];
  for (let i = -2; i < runs; i++) {
    ctx.signal.throwIfAborted();
    const id = `strata-bench-${process.pid}-floor-${i + 2}`;
    const argvRun = ["crun", "--root", floor.stateRoot, "run", "--bundle", floor.bundle, id];
    try {
      const t = await timed(() => echoHi(() => run(argvRun, ctx.signal)));
      if (i >= 0) ms.push(t.ms);
    } catch (err) {
      await run(["crun", "--root", floor.stateRoot, "delete", "--force", id]).catch(() => {});
      throw err;
    }
  }
  return {
    label: "crun run of a prepared bundle (floor)",
    command: `crun --root <state> run --bundle <bundle> <id>`,
    ms,
    error: null,
    notes: [],
  };
}
