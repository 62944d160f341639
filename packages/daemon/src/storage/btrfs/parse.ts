/** Pure parsers of btrfs-progs output, tested on fixtures from the versions we meet. */

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
