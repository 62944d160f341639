import { formatSize, type Snapshot } from "@strata/sdk";
import { paint, type RenderOptions, renderFields, renderTable } from "./output.ts";

function yesNo(value: boolean): string {
  return value ? "yes" : "no";
}

function status(value: string, opts: RenderOptions): string {
  return paint(value, value === "ready" ? "green" : value === "failed" ? "red" : "yellow", opts);
}

/** An ISO time to the second, as tables show it. */
function shortTime(iso: string): string {
  return iso.replace(/\.\d+Z$/, "Z");
}

/** What the snapshot was taken of: a volume's slug (`-` once deleted) or a sandbox's id. */
function sourceName(s: Snapshot): string {
  if (s.source.kind === "sandbox") return s.source.sandbox;
  return s.source.volume?.slug ?? "-";
}

/** Where the snapshot came from, for its details. */
function describeSource(s: Snapshot): string {
  if (s.source.kind === "sandbox") {
    return `sandbox ${s.source.sandbox}${s.automatic ? " (automatic)" : ""}`;
  }
  const v = s.source.volume;
  return v ? `volume ${v.slug} (${v.id})` : "volume - (deleted)";
}

function describeTemplate(template: Snapshot["template"]): string {
  if (template === null) return "-";
  if (template.kind === "image") return template.image;
  if (template.kind === "volume") return `volume ${template.volume.slug || template.volume.id}`;
  return `snapshot ${template.snapshot.slug || template.snapshot.id}`;
}

/**
 * `ID  SLUG  REGION  ALLOCATED  FLATTENED  KIND  SOURCE  STATUS  PROTECTED  EXPIRES`;
 * SOURCE is the volume's slug or the sandbox's id, EXPIRES `never` without an expiry.
 */
export function snapshotsTable(snapshots: Snapshot[], opts: RenderOptions = {}): string {
  return renderTable(
    [
      "ID",
      "SLUG",
      "REGION",
      "ALLOCATED",
      "FLATTENED",
      "KIND",
      "SOURCE",
      "STATUS",
      "PROTECTED",
      "EXPIRES",
    ],
    snapshots.map((s) => [
      s.id,
      s.slug,
      s.region,
      formatSize(s.allocatedSize),
      formatSize(s.flattenedSize),
      s.kind,
      sourceName(s),
      status(s.status, opts),
      yesNo(s.protected),
      s.expiresAt ? shortTime(s.expiresAt) : "never",
    ]),
    opts,
  );
}

/** One snapshot, field by field. */
export function snapshotDetails(s: Snapshot, opts: RenderOptions = {}): string {
  const fields: [string, string][] = [
    ["ID", s.id],
    ["Slug", s.slug],
    ["Region", s.region],
    ["Status", status(s.status, opts)],
    ["Kind", s.kind],
    ["Source", describeSource(s)],
  ];
  if (s.kind === "sandbox") fields.push(["Template", describeTemplate(s.template)]);
  fields.push(
    ["Allocated", formatSize(s.allocatedSize)],
    ["Flattened", formatSize(s.flattenedSize)],
  );
  if (s.sizeBytes !== null) fields.push(["Size", formatSize(s.sizeBytes)]);
  fields.push(
    ["Bootable", yesNo(s.bootable)],
    ["Protected", yesNo(s.protected)],
    ["Expires", s.expiresAt ?? "never"],
    ["Created", s.createdAt],
  );
  if (s.settledAt) fields.push(["Settled", s.settledAt]);
  if (s.failureReason) fields.push(["Failure", s.failureReason]);
  return renderFields(fields);
}
