import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

/**
 * The cgroup freezer of one sandbox: every process in `/<prefix>/<id>` stops at once
 * (no CPU, sockets stay open) and goes on where it was when thawed. Works on the v1
 * freezer hierarchy (hybrid hosts) and on cgroup v2 (`cgroup.freeze`). Writing the files
 * directly, rather than through `crun pause`, keeps a freeze to a few hundred microseconds.
 */
export class Freezer {
  readonly #dir: Promise<{ kind: "v1" | "v2"; root: string } | undefined>;
  readonly #prefix: string;

  constructor(prefix: string) {
    this.#prefix = prefix;
    this.#dir = findFreezer();
  }

  /**
   * Freezes the sandbox's cgroup and resolves once every task in it is frozen. A task in an
   * uninterruptible wait (say, on a slow btrfs commit) holds the freeze back; after
   * `timeoutMs` the cgroup is thawed again and this throws, so that nothing is left half
   * frozen.
   */
  async freeze(id: string, timeoutMs = 5_000): Promise<void> {
    try {
      await this.#freeze(id, timeoutMs);
    } catch (err) {
      await this.thawIfPresent(id);
      throw err;
    }
  }

  async #freeze(id: string, timeoutMs: number): Promise<void> {
    const f = await this.#path(id);
    if (f.kind === "v2") {
      await writeFile(join(f.dir, "cgroup.freeze"), "1");
      await waitFor(
        () => readFile(join(f.dir, "cgroup.events"), "utf8"),
        (s) => /^frozen 1$/m.test(s),
        timeoutMs,
      );
      return;
    }
    await writeFile(join(f.dir, "freezer.state"), "FROZEN");
    await waitFor(
      () => readFile(join(f.dir, "freezer.state"), "utf8"),
      (s) => s.trim() === "FROZEN",
      timeoutMs,
    );
  }

  async thaw(id: string): Promise<void> {
    const f = await this.#path(id);
    if (f.kind === "v2") await writeFile(join(f.dir, "cgroup.freeze"), "0");
    else await writeFile(join(f.dir, "freezer.state"), "THAWED");
  }

  /** Thaws, ignoring a cgroup that is already gone (for teardown). */
  async thawIfPresent(id: string): Promise<void> {
    await this.thaw(id).catch(() => {});
  }

  async #path(id: string): Promise<{ kind: "v1" | "v2"; dir: string }> {
    const f = await this.#dir;
    if (!f) throw new Error("This host has no cgroup freezer (neither v1 freezer nor cgroup v2)");
    return { kind: f.kind, dir: join(f.root, this.#prefix, id) };
  }
}

async function findFreezer(): Promise<{ kind: "v1" | "v2"; root: string } | undefined> {
  const mounts = (await readFile("/proc/self/mounts", "utf8")).split("\n").map((l) => l.split(" "));
  const v1 = mounts.find((m) => m[2] === "cgroup" && (m[3] ?? "").split(",").includes("freezer"));
  if (v1) return { kind: "v1", root: v1[1]! };
  const v2 = mounts.find((m) => m[2] === "cgroup2");
  return v2 ? { kind: "v2", root: v2[1]! } : undefined;
}

/** Polls `read` until `done` holds: the freezer settles within microseconds to milliseconds. */
async function waitFor(
  read: () => Promise<string>,
  done: (s: string) => boolean,
  timeoutMs: number,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (let spin = 0; ; spin++) {
    if (done(await read())) return;
    if (performance.now() > deadline)
      throw new Error("The sandbox's processes did not freeze in time");
    if (spin > 20) await new Promise((r) => setTimeout(r, 1));
  }
}
