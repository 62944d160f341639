import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

const FREEZE_ATTEMPTS = 3;

/** A freeze that did not settle in time (as opposed to a cgroup that cannot be written). */
class FreezeTimeout extends Error {}

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
   * uninterruptible wait that is not freezable holds the freeze back; a freeze that has not
   * settled after a third of `timeoutMs` is thawed, given a moment to let such tasks
   * through, and tried again, up to three times. After the last the cgroup is thawed and
   * this throws (naming the tasks that held it back), so that nothing is left half frozen.
   */
  async freeze(id: string, timeoutMs = 6_000): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#freeze(id, timeoutMs / FREEZE_ATTEMPTS);
        return;
      } catch (err) {
        await this.thawIfPresent(id);
        if (attempt >= FREEZE_ATTEMPTS || !(err instanceof FreezeTimeout)) throw err;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  async #freeze(id: string, timeoutMs: number): Promise<void> {
    const f = await this.#path(id);
    const settled =
      f.kind === "v2"
        ? writeFile(join(f.dir, "cgroup.freeze"), "1").then(() =>
            waitFor(
              () => readFile(join(f.dir, "cgroup.events"), "utf8"),
              (s) => /^frozen 1$/m.test(s),
              timeoutMs,
            ),
          )
        : writeFile(join(f.dir, "freezer.state"), "FROZEN").then(() =>
            waitFor(
              () => readFile(join(f.dir, "freezer.state"), "utf8"),
              (s) => s.trim() === "FROZEN",
              timeoutMs,
              // The v1 freezer asks each task to freeze once, when FROZEN is written. A shell
              // that vfork()s at that instant is asked while running, then sleeps waiting for
              // its child, which freezes before exec: the parent's wait is freezable but no
              // one asks again, and the cgroup stays FREEZING until thawed (seen here: dash
              // in kernel_clone for seconds). Writing FROZEN again asks again.
              () => writeFile(join(f.dir, "freezer.state"), "FROZEN"),
            ),
          );
    if (!(await settled)) {
      const busy = await busyTasks(join(f.dir, f.kind === "v2" ? "cgroup.procs" : "tasks"));
      throw new FreezeTimeout(
        `The sandbox's processes did not freeze within ${FREEZE_ATTEMPTS} tries of ${timeoutMs} ms${busy ? ` (${busy})` : ""}`,
      );
    }
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

/**
 * Polls `read` until `done` holds (true) or `timeoutMs` pass (false): the freezer settles
 * within microseconds to milliseconds. `nudge`, if given, runs every few milliseconds
 * while it has not.
 */
async function waitFor(
  read: () => Promise<string>,
  done: (s: string) => boolean,
  timeoutMs: number,
  nudge?: () => Promise<void>,
): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  for (let spin = 0; ; spin++) {
    if (done(await read())) return true;
    if (performance.now() > deadline) return false;
    if (nudge && spin > 0 && spin % 5 === 0) await nudge();
    if (spin > 20) await new Promise((r) => setTimeout(r, 1));
  }
}

/**
 * The tasks of a cgroup that are not asleep in the freezer, as "pid 12 (cmd) D in
 * wait_func": what held a freeze back. Empty when nothing can be read.
 */
async function busyTasks(tasksFile: string): Promise<string> {
  const pids = (await readFile(tasksFile, "utf8").catch(() => "")).split("\n").filter(Boolean);
  const busy: string[] = [];
  for (const pid of pids.slice(0, 200)) {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
    // comm is in parentheses and may hold spaces; the state follows the last ")".
    const close = stat.lastIndexOf(")");
    if (close < 0) continue;
    const comm = stat.slice(stat.indexOf("(") + 1, close);
    const state = stat.slice(close + 2, close + 3);
    const wchan = (await readFile(`/proc/${pid}/wchan`, "utf8").catch(() => "")).trim();
    if (/refrigerator|do_freezer_trap|freezer/.test(wchan)) continue;
    busy.push(`pid ${pid} (${comm}) ${state}${wchan && wchan !== "0" ? ` in ${wchan}` : ""}`);
  }
  return busy.slice(0, 5).join(", ");
}
