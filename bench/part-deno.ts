/**
 * The Deno part of the benchmark: the official `@deno/sandbox` client against Strata's own
 * `@strata/sdk`, on one stratad (`--region ord`): a sandbox's create, an `` sh`echo hi` ``
 * round trip, and a 1 MiB writeFile + readFile. The two clients take turns, so that the
 * machine's drift affects both alike. Goal: the official client within 1.3× of the SDK.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Client as DenoClient, Sandbox as DenoSandbox } from "@deno/sandbox";
import { Client as StrataClient } from "@strata/sdk";
import type { SandboxPlan } from "./cases.ts";
import type { Context } from "./measure-strata.ts";
import { median, msOrDash, percentile, problemLines, table } from "./report.ts";
import { type DaemonRun, withStratad } from "./stratad.ts";

/** Timings of one client, in ms. */
export interface ClientTimings {
  /** Create from the snapshot until commands can run. */
  create: number[];
  /** `` sh`echo hi`.text() `` in a running sandbox. */
  echo: number[];
  /** writeFile of 1 MiB, then readFile of it. */
  write: number[];
  read: number[];
}

export interface DenoResults {
  deno: ClientTimings;
  strata: ClientTimings;
  daemon: DaemonRun;
  failure: string | null;
}

const empty = (): ClientTimings => ({ create: [], echo: [], write: [], read: [] });

export function emptyDenoResults(): DenoResults {
  return { deno: empty(), strata: empty(), daemon: { problems: [] }, failure: null };
}

/** What one client is asked to do; both adapters below do the same work. */
interface Driver {
  create(root: string): Promise<{
    echo(): Promise<string>;
    write(path: string, data: Uint8Array<ArrayBuffer>): Promise<void>;
    read(path: string): Promise<Uint8Array>;
    kill(): Promise<void>;
  }>;
}

const timed = async <T>(samples: number[], fn: () => Promise<T>): Promise<T> => {
  const t = performance.now();
  const v = await fn();
  samples.push(performance.now() - t);
  return v;
};

/** Runs the Deno part on its own stratad under `<workDir>/deno`; fills `results` as it goes. */
export async function runDeno(
  options: { workDir: string; plan: SandboxPlan; ctx: Context },
  results: DenoResults,
): Promise<void> {
  const { plan, ctx } = options;
  await withStratad(
    {
      dir: join(options.workDir, "deno"),
      extraArgs: ["--region", "ord"],
      log: ctx.log,
      run: results.daemon,
    },
    async (d) => {
      const token = (await readFile(join(d.dataDir, "admin.token"), "utf8")).trim();
      const env = { token, org: "default", apiEndpoint: d.url, sandboxEndpoint: d.url };
      const console = new DenoClient(env);
      ctx.log("deno: a snapshot of a volume from builtin:debian-13 (the image build included)");
      const volume = await console.volumes.create({
        slug: "deno-base",
        region: "ord",
        capacity: "2GB",
        from: "builtin:debian-13",
      });
      const root = (await console.volumes.snapshot(volume.slug, { slug: "deno-base-snap" })).slug;

      const deno: Driver = {
        async create(r) {
          const sb = await DenoSandbox.create({ ...env, root: r });
          return {
            echo: async () => await sb.sh`echo hi`.text(),
            write: (p, data) => sb.fs.writeFile(p, data),
            read: (p) => sb.fs.readFile(p),
            kill: () => sb.kill(),
          };
        },
      };
      const sdk = new StrataClient({ endpoint: d.url, token });
      const strata: Driver = {
        async create(r) {
          const sb = await sdk.sandboxes.create({ root: r });
          return {
            echo: async () => await sb.sh`echo hi`.text(),
            write: (p, data) => sb.fs.writeFile(p, data),
            read: (p) => sb.fs.readFile(p),
            kill: () => sb.kill(),
          };
        },
      };

      const data = new Uint8Array(plan.fileBytes).map((_, i) => (i * 7) % 256);
      const round = async (driver: Driver, into: ClientTimings, count: boolean) => {
        const sink = count ? into : empty();
        const sb = await timed(sink.create, () => driver.create(root));
        try {
          const reps = Math.max(1, Math.round(plan.execRuns / plan.cycles));
          for (let i = 0; i < reps; i++) {
            const out = await timed(sink.echo, () => sb.echo());
            if (out.trim() !== "hi") throw new Error(`echo hi gave ${JSON.stringify(out)}`);
          }
          await timed(sink.write, () => sb.write("/tmp/bench.bin", data));
          const back = await timed(sink.read, () => sb.read("/tmp/bench.bin"));
          if (back.length !== data.length)
            throw new Error(`read back ${back.length} of ${data.length} bytes`);
        } finally {
          await sb.kill();
        }
      };
      ctx.log(`deno: ${plan.cycles} rounds per client, taking turns (2 warm-up rounds each)`);
      for (let i = 0; i < 2; i++) {
        await round(deno, results.deno, false);
        await round(strata, results.strata, false);
      }
      for (let i = 0; i < plan.cycles; i++) {
        ctx.signal.throwIfAborted();
        // Alternating which goes first keeps caches and GC from favouring one side.
        const [first, second] = i % 2 === 0 ? [deno, strata] : [strata, deno];
        await round(first, first === deno ? results.deno : results.strata, true);
        await round(second, second === deno ? results.deno : results.strata, true);
      }
    },
  );
}

/** The Deno part's printout, as lines. */
export function formatDenoReport(plan: SandboxPlan, r: DenoResults): string[] {
  const out = [
    "DENO CLIENT",
    `The official @deno/sandbox client against @strata/sdk on one stratad, ${r.deno.create.length} rounds each, taking turns.`,
    `Medians (p95); the ratio is official / Strata SDK (goal: at most 1.3×).`,
    "",
  ];
  const cell = (s: number[]) =>
    s.length === 0 ? "-" : `${msOrDash(median(s))} (${msOrDash(percentile(s, 0.95))})`;
  const ratio = (a: number[], b: number[]) => {
    const x = median(a);
    const y = median(b);
    return x === undefined || y === undefined || y === 0 ? "-" : `×${(x / y).toFixed(2)}`;
  };
  const rows: [string, keyof ClientTimings][] = [
    ["Sandbox create from a snapshot", "create"],
    ["sh`echo hi`.text() round trip", "echo"],
    [`writeFile ${plan.fileBytes / 2 ** 20} MiB`, "write"],
    [`readFile ${plan.fileBytes / 2 ** 20} MiB`, "read"],
  ];
  out.push(
    table(
      ["Operation", "@deno/sandbox", "@strata/sdk", "ratio"],
      rows.map(([label, k]) => [
        label,
        cell(r.deno[k]),
        cell(r.strata[k]),
        ratio(r.deno[k], r.strata[k]),
      ]),
    ),
  );
  if (r.failure) out.push("", `Deno part stopped early: ${r.failure}`);
  out.push(...problemLines(r.daemon.problems));
  return out;
}
