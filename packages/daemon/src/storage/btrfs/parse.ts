/** Pure parsers of btrfs-progs output, tested on fixtures from the versions we meet. */

export interface QgroupRow {
  /** The level-0 qgroup's subvolume id (`0/<id>`), or null for higher levels. */
  subvolumeId: number | null;
  referenced: number;
  exclusive: number;
}

/**
 * Parses `btrfs qgroup show --raw`. Columns are found by header name because btrfs-progs
 * has changed their casing ("rfer" in 5.x, "Referenced" in 6.x) and added a Path column.
 */
export function parseQgroupShow(text: string): QgroupRow[] {
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  const header = lines.findIndex((l) => /qgroupid/i.test(l));
  if (header < 0) return [];
  const cols = lines[header]!.trim().toLowerCase().split(/\s+/);
  const iRef = cols.findIndex((c) => c === "rfer" || c === "referenced");
  const iExcl = cols.findIndex((c) => c === "excl" || c === "exclusive");
  const rows: QgroupRow[] = [];
  for (const line of lines.slice(header + 1)) {
    const f = line.trim().split(/\s+/);
    const m = /^(\d+)\/(\d+)$/.exec(f[0] ?? "");
    if (!m) continue;
    rows.push({
      subvolumeId: m[1] === "0" ? Number(m[2]) : null,
      referenced: Number(f[iRef]),
      exclusive: Number(f[iExcl]),
    });
  }
  return rows;
}

export interface SubvolumeRow {
  id: number;
  path: string;
}

/** Parses `btrfs subvolume list`: `ID 256 gen 9 top level 5 path a/b`. */
export function parseSubvolumeList(text: string): SubvolumeRow[] {
  const rows: SubvolumeRow[] = [];
  for (const line of text.split("\n")) {
    const m = /^ID (\d+) gen \d+ (?:cgen \d+ )?top level \d+ (?:parent_uuid \S+ )?path (.+)$/.exec(
      line.trim(),
    );
    if (m) rows.push({ id: Number(m[1]), path: m[2]! });
  }
  return rows;
}
