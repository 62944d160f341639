import { formatSize, type SandboxInfo } from "@strata/sdk";
import { paint, type RenderOptions, renderFields, renderTable } from "./output.ts";

function status(value: string, opts: RenderOptions): string {
  return paint(value, value === "ready" ? "green" : value === "stopped" ? "dim" : "yellow", opts);
}

/** `manual`, or `automatic (0 * * * *, keep 24)`. */
function describeSchedule(s: SandboxInfo): string {
  if (s.snapshotMode === "manual") return "manual";
  const keep = s.snapshotKeep === null ? "" : `, keep ${s.snapshotKeep}`;
  return `automatic (${s.snapshotFrequency ?? "?"}${keep})`;
}

/** What a sandbox boots from: the image, or the volume's or snapshot's slug. */
export function describeRoot(root: SandboxInfo["root"]): string {
  if (root.kind === "image") return root.image;
  if (root.kind === "volume") return `volume ${root.volume.slug || root.volume.id}`;
  return `snapshot ${root.snapshot.slug || root.snapshot.id}`;
}

/** `k=v,k2=v2`, or `-` without labels. */
export function describeLabels(labels: Record<string, string>): string {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}=${v}`);
  return pairs.length > 0 ? pairs.join(",") : "-";
}

/** An ISO time to the second, as tables show it. */
function shortTime(iso: string): string {
  return iso.replace(/\.\d+Z$/, "Z");
}

/** `ID  STATUS  ROOT  CREATED  LABELS`. */
export function sandboxesTable(sandboxes: SandboxInfo[], opts: RenderOptions = {}): string {
  return renderTable(
    ["ID", "STATUS", "ROOT", "CREATED", "LABELS"],
    sandboxes.map((s) => [
      s.id,
      status(s.status, opts),
      describeRoot(s.root),
      shortTime(s.createdAt),
      describeLabels(s.labels),
    ]),
    opts,
  );
}

/** One sandbox, field by field. */
export function sandboxDetails(s: SandboxInfo, opts: RenderOptions = {}): string {
  const fields: [string, string][] = [
    ["ID", s.id],
    ["Status", status(s.status, opts)],
    ["Region", s.region],
    ["Root", describeRoot(s.root)],
  ];
  if (JSON.stringify(s.template) !== JSON.stringify(s.root)) {
    fields.push(["Template", describeRoot(s.template)]);
  }
  for (const v of s.volumes)
    fields.push(["Volume", `${v.path} ← ${v.volume.slug} (${v.volume.id})`]);
  fields.push(
    ["Memory", `${Math.round(s.memory / 2 ** 20)} MiB`],
    ["CPUs", String(s.cpus)],
    ["Labels", describeLabels(s.labels)],
    [
      "Persistent",
      s.persistent
        ? `yes${s.diskBytes === null ? "" : `, ${formatSize(s.diskBytes)} disk`}${s.startable ? ", startable" : ""}`
        : "no",
    ],
    ["Snapshots", describeSchedule(s)],
  );
  if (s.port !== null) fields.push(["Port", String(s.port)]);
  if (s.url) fields.push(["URL", s.url]);
  if (s.allowNet)
    fields.push(["Allow net", s.allowNet.length > 0 ? s.allowNet.join(", ") : "none"]);
  fields.push(["Created", s.createdAt]);
  if (s.expiresAt) fields.push(["Expires", s.expiresAt]);
  if (s.stoppedAt) fields.push(["Stopped", `${s.stoppedAt} (${s.stopReason ?? "unknown"})`]);
  return renderFields(fields);
}
