import type { SandboxPlan } from "./cases.ts";
import type { RunCycle } from "./measure-containers.ts";
import { type DensityResult, pinnedBytes } from "./measure-density.ts";
import type { Failures } from "./measure-sandboxes.ts";
import type { SandboxResults } from "./part-sandboxes.ts";
import {
  formatBytes,
  formatRange,
  median,
  msOrDash,
  percentile,
  problemLines,
  ratio,
  summarise,
  table,
} from "./report.ts";

/** The sandbox part's printout, as lines. */
export function formatSandboxReport(plan: SandboxPlan, r: SandboxResults): string[] {
  const out: string[] = ["SANDBOXES"];
  if (r.base)
    out.push(
      `Base: a volume from builtin:debian-13 (ready after ${(r.base.volumeReadyMs / 1000).toFixed(1)} s,`,
      "the image build included when it was the first), snapshotted; sandboxes boot from that snapshot.",
    );
  if (r.cycles) out.push("", ...cycleLines(r));
  if (r.io) out.push("", ...ioLines(plan, r));
  if (r.boot.length > 0) out.push("", ...bootLines(r));
  if (r.running.length > 0) out.push("", ...runningLines(r));
  if (r.density) out.push("", ...densityLines(r.density));
  if (r.failure) out.push("", `Sandbox part stopped early: ${r.failure}`);
  out.push(...problemLines(r.daemon.problems));
  return out;
}

function failureLines(f: Failures, what: string): string[] {
  if (f.count === 0) return [];
  return [
    `   ${f.count} ${what} failed and were left out; ${f.messages.length > 1 ? "messages" : "message"} (the daemon's log below says why):`,
    ...f.messages.map((m) => `     ${m}`),
  ];
}

const goal = (ok: boolean | undefined) => (ok === undefined ? "—" : ok ? "met" : "not met");

function distRow(label: string, ms: readonly number[]): string[] {
  const s = summarise(ms);
  return [label, msOrDash(percentile(ms, 0.5)), msOrDash(percentile(ms, 0.99)), formatRange(s)];
}

function cycleLines(r: SandboxResults): string[] {
  const c = r.cycles!;
  const firstOutput = c.createMs.map((x, i) => x + c.execMs[i]!);
  const rows = [
    distRow("stratad: create → echo hi → delete", c.totalMs),
    distRow("stratad: create → echo hi output (no delete)", firstOutput),
    ...r.others.map((o) => distRow(o.error ? `${o.label}: could not run` : o.label, o.ms)),
  ];
  const p50 = percentile(c.totalMs, 0.5);
  const podman = r.others.find((o) => o.label.startsWith("podman run --rm (default"));
  const podmanP50 = podman ? percentile(podman.ms, 0.5) : undefined;
  const lines = [
    "1. Sandbox from a snapshot → first command's output → deleted, one after another, networking",
    "   on (the daemon's default: netns, veth, bridge, nft rules). Each row times the whole cycle",
    "   as a client sees it (HTTP for stratad; the CLI process for podman and crun). ms; p99 by",
    "   nearest rank (with fewer than 100 samples it is the maximum).",
    table(["cycle", "p50", "p99", "min–max (n)"], rows),
    `   stratad medians: create ${msOrDash(median(c.createMs))} ms, first exec ${msOrDash(median(c.execMs))} ms, delete ${msOrDash(median(c.deleteMs))} ms`,
    `   Goal p50 ≤ 50 ms: ${msOrDash(p50)} ms, ${goal(p50 === undefined ? undefined : p50 <= 50)}.` +
      ` Goal ≥ 5× faster than podman: podman p50 / stratad p50 = ${ratio(podmanP50, p50)}, ${goal(
        p50 === undefined || podmanP50 === undefined ? undefined : podmanP50 / p50 >= 5,
      )}.`,
  ];
  lines.push(...failureLines(c.failures, "stratad cycles"));
  for (const o of r.others) lines.push(...otherLines(o));
  return lines;
}

function otherLines(o: RunCycle): string[] {
  const lines: string[] = [];
  if (o.error) lines.push(`   ${o.label}: could not be measured: ${o.error}`);
  else lines.push(`   ${o.label}: \`${o.command}\``);
  for (const n of o.notes)
    lines.push(...n.split("\n").map((l, i) => `   ${i === 0 ? "- " : "  "}${l}`));
  return lines;
}

function ioLines(plan: SandboxPlan, r: SandboxResults): string[] {
  const io = r.io!;
  const both = io.writeMs.map((w, i) => w + io.readMs[i]!);
  const execP50 = percentile(io.execMs, 0.5);
  const bothMedian = median(both);
  return [
    '2. On one running sandbox: exec round trip (POST …/exec {argv: ["true"]}, until the result),',
    `   and a ${formatBytes(plan.fileBytes)} file of random bytes written (PUT …/files/content) and read back (GET), compared.`,
    table(
      ["operation", "p50", "p99", "min–max (n)"],
      [
        distRow('exec ["true"]', io.execMs),
        distRow(`write ${formatBytes(plan.fileBytes)}`, io.writeMs),
        distRow(`read ${formatBytes(plan.fileBytes)} back`, io.readMs),
        distRow("write + read back", both),
      ],
    ),
    `   Goal exec p50 ≤ 5 ms: ${msOrDash(execP50)} ms, ${goal(execP50 === undefined ? undefined : execP50 <= 5)}.` +
      ` Goal file write + read back (median) ≤ 10 ms: ${msOrDash(bothMedian)} ms, ${goal(
        bothMedian === undefined ? undefined : bothMedian <= 10,
      )}.`,
    ...(io.sdk
      ? [
          `   SDK overhead (issue 4): sh\`true\` through @strata/sdk p50 ${io.sdk.sdkP50Ms.toFixed(2)} ms against raw fetch p50 ${io.sdk.rawP50Ms.toFixed(2)} ms:` +
            ` ${io.sdk.overheadP50Ms.toFixed(2)} ms (goal within 1 ms: ${goal(Math.abs(io.sdk.overheadP50Ms) <= 1)}); spawn over the WebSocket p50 ${io.sdk.spawnP50Ms.toFixed(2)} ms.`,
        ]
      : []),
    ...failureLines(io.failures, "creates of the sandbox"),
  ];
}

function bootLines(r: SandboxResults): string[] {
  const small = r.boot[0]!;
  const large = r.boot[r.boot.length - 1]!;
  const ratioValue = (median(large.createMs) ?? 0) / (median(small.createMs) ?? 1);
  return [
    "3. Boot (POST /v1/sandboxes until 201) from snapshots of volumes holding extra data: random,",
    "   written into the volume's layer on the host, chowned to the sandbox root, synced, then snapshotted.",
    table(
      ["extra data", "create median", "create min–max (n)", "delete median", "delete min–max (n)"],
      r.boot.map((b) => [
        b.label,
        msOrDash(median(b.createMs)),
        formatRange(summarise(b.createMs)),
        msOrDash(median(b.deleteMs)),
        formatRange(summarise(b.deleteMs)),
      ]),
    ),
    `   create ${large.label} / ${small.label}: ${ratio(median(large.createMs), median(small.createMs))}; goal ≤ 1.2: ${goal(
      small.createMs.length && large.createMs.length ? ratioValue <= 1.2 : undefined,
    )}. delete ${large.label} / ${small.label}: ${ratio(median(large.deleteMs), median(small.deleteMs))}.`,
    ...r.boot.flatMap((b) => failureLines(b.failures, `creates from the ${b.label} snapshot`)),
  ];
}

function runningLines(r: SandboxResults): string[] {
  const small = r.running[0]!;
  const large = r.running[r.running.length - 1]!;
  const m = (xs: number[]) => median(xs);
  const readyRatio = (m(large.readyMs) ?? 0) / (m(small.readyMs) ?? 1);
  const worstFrozen = Math.max(...r.running.flatMap((x) => x.frozenMs), 0);
  return [
    "3b. Snapshots of a running sandbox (issue 5): a sandbox booted from each boot volume (the data",
    "   is in its root) runs a process that writes its clock every 5 ms; POST /sandboxes/{id}/snapshots,",
    "   then GET until ready. ready = settledAt − createdAt on the daemon's clock; frozen = the daemon's",
    "   measure of the freeze; stall = the longest gap in the process's clock beyond its usual interval;",
    "   restore = POST /v1/sandboxes {fromSnapshot} until commands can run.",
    table(
      [
        "root data",
        "answer median",
        "ready median",
        "ready min–max (n)",
        "frozen median / max",
        "stall median / max",
        "restore median",
      ],
      r.running.map((x) => [
        x.label,
        msOrDash(m(x.answerMs)),
        msOrDash(m(x.readyMs)),
        formatRange(summarise(x.readyMs)),
        `${msOrDash(m(x.frozenMs))} / ${msOrDash(x.frozenMs.length ? Math.max(...x.frozenMs) : undefined)}`,
        `${msOrDash(m(x.stallMs))} / ${msOrDash(x.stallMs.length ? Math.max(...x.stallMs) : undefined)}`,
        msOrDash(m(x.restoreMs)),
      ]),
    ),
    `   ready both under 100 ms: ${goal(r.running.every((x) => (m(x.readyMs) ?? Infinity) < 100))};` +
      ` ready ${large.label} / ${small.label}: ${ratio(m(large.readyMs), m(small.readyMs))} (goal ≤ 1.5: ${goal(
        small.readyMs.length && large.readyMs.length ? readyRatio <= 1.5 : undefined,
      )}); frozen at most ${worstFrozen.toFixed(1)} ms (goal ≤ 20 ms: ${goal(worstFrozen <= 20)}).`,
    ...r.running.flatMap((x) =>
      x.failures.map((f) => `   a snapshot of the ${x.label} sandbox failed: ${f}`),
    ),
  ];
}

function densityLines(d: DensityResult): string[] {
  const n = d.created;
  const rate = (count: number, ms: number) => (ms > 0 ? (count / (ms / 1000)).toFixed(1) : "—");
  const m = (s: { meminfo: Map<string, number> }, k: string) => s.meminfo.get(k) ?? 0;
  const dPinned = pinnedBytes(d.full.meminfo) - pinnedBytes(d.before.meminfo);
  const dUsed =
    m(d.full, "MemTotal") -
    m(d.full, "MemAvailable") -
    (m(d.before, "MemTotal") - m(d.before, "MemAvailable"));
  const outside = dPinned - d.inside.ownBytes;
  const per = (bytes: number) => (n > 0 ? formatBytes(bytes / n) : "—");
  const delta = (k: string) => m(d.full, k) - m(d.before, k);
  const daemon = (s: { daemon: Map<string, number> }, k: string) => s.daemon.get(k) ?? 0;
  const dRss = daemon(d.full, "VmRSS") - daemon(d.before, "VmRSS");
  const dAnon = daemon(d.full, "RssAnon") - daemon(d.before, "RssAnon");
  const head = d.createMs.slice(0, 20);
  const tail = d.createMs.slice(-20);
  const lines = [
    `4. Density: ${d.target} idle sandboxes from the base snapshot, ${d.concurrency} creates in flight at a time.`,
    `   Created ${n} in ${(d.createWallMs / 1000).toFixed(1)} s: ${rate(n, d.createWallMs)} per second.` +
      ` Create latency median ${msOrDash(median(d.createMs))} ms (first 20: ${msOrDash(median(head))}, last 20: ${msOrDash(median(tail))}).`,
    `   Deleted ${d.deleteMs.length} in ${(d.deleteWallMs / 1000).toFixed(1)} s: ${rate(d.deleteMs.length, d.deleteWallMs)} per second.` +
      ` Delete latency median ${msOrDash(median(d.deleteMs))} ms (first 20: ${msOrDash(median(d.deleteMs.slice(0, 20)))}, last 20: ${msOrDash(median(d.deleteMs.slice(-20)))}).`,
    "",
    "   Memory, from /proc/meminfo just before the first create and right after the last one answered.",
    '   "Pinned" = MemTotal − MemFree − Buffers − (Cached − Shmem) − SReclaimable: anonymous memory,',
    "   shmem/tmpfs and unreclaimable kernel memory (page cache and reclaimable slab left out). The",
    "   sandboxes' own processes are those in their memory cgroups (/<prefix>/<id>); what they hold",
    "   themselves = Σ (RssAnon + RssShmem + VmPTE + 16 KiB kernel stack per thread) from /proc/<pid>/status.",
    "   Overhead per sandbox = (Δ pinned − what they hold) / sandboxes: the kernel objects (netns, veth,",
    "   mounts, cgroups, nft), files on tmpfs and the daemon's own growth. Other",
    "   processes on the host move these figures too.",
    table(
      ["figure", "total", "per sandbox"],
      [
        ["Δ pinned", formatBytes(dPinned), per(dPinned)],
        [
          `sandbox processes (${d.inside.processes} in ${d.inside.cgroupsFound} cgroups) hold`,
          formatBytes(d.inside.ownBytes),
          per(d.inside.ownBytes),
        ],
        ["overhead outside the sandboxes' processes", formatBytes(outside), per(outside)],
        [
          "  of which Δ AnonPages (all processes)",
          formatBytes(delta("AnonPages")),
          per(delta("AnonPages")),
        ],
        [
          "  of which Δ Shmem (tmpfs, shared memory)",
          formatBytes(delta("Shmem")),
          per(delta("Shmem")),
        ],
        [
          "  of which Δ SUnreclaim (kernel slab)",
          formatBytes(delta("SUnreclaim")),
          per(delta("SUnreclaim")),
        ],
        ["  of which Δ KernelStack", formatBytes(delta("KernelStack")), per(delta("KernelStack"))],
        ["  of which Δ PageTables", formatBytes(delta("PageTables")), per(delta("PageTables"))],
        ["  of which Δ Percpu", formatBytes(delta("Percpu")), per(delta("Percpu"))],
        ["Δ (MemTotal − MemAvailable), for comparison", formatBytes(dUsed), per(dUsed)],
        [
          "Σ memory.usage_in_bytes of the cgroups (cache, kmem incl.)",
          formatBytes(d.inside.cgroupUsageBytes),
          per(d.inside.cgroupUsageBytes),
        ],
        [
          "Σ memory.stat rss of the cgroups",
          formatBytes(d.inside.cgroupRssBytes),
          per(d.inside.cgroupRssBytes),
        ],
        ["stratad Δ VmRSS", formatBytes(dRss), per(dRss)],
        ["stratad Δ RssAnon", formatBytes(dAnon), per(dAnon)],
      ],
    ),
    `   Goal overhead ≤ 5 MiB per sandbox: ${n > 0 ? formatBytes(outside / n) : "—"}, ${goal(n > 0 ? outside / n <= 5 * 2 ** 20 : undefined)}.`,
    `   After deleting them all, pinned is ${formatBytes(pinnedBytes(d.after.meminfo) - pinnedBytes(d.before.meminfo))} above the start; stratad VmRSS ${formatBytes(daemon(d.after, "VmRSS") - daemon(d.before, "VmRSS"))} above.`,
    d.leftovers.length === 0
      ? `   Nothing of the deleted sandboxes was left on the host (netns, veths, cgroups, crun state, bundles, roots, nft lines) ${d.cleanMs.toFixed(0)} ms after the last delete answered.`
      : `   Left on the host ${d.cleanMs.toFixed(0)} ms after the last delete answered: ${d.leftovers.slice(0, 10).join(", ")}${d.leftovers.length > 10 ? ` and ${d.leftovers.length - 10} more` : ""}`,
  ];
  lines.push(...failureLines(d.failures, "creates or deletes"));
  return lines;
}
