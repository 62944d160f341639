/** Pure parsers of tool output the benchmark reads, tested on fixtures in `parse.test.ts`. */

export interface FilesystemUsage {
  /** Bytes in use on the device, metadata counted once per copy (the "Overall: Used:" line). */
  usedBytes: number;
  /** Bytes of file data in use (the `Data,<profile>: ... Used:` line). */
  dataUsedBytes: number;
  /** Bytes of metadata in use, one copy (the `Metadata,<profile>: ... Used:` line). */
  metadataUsedBytes: number;
}

/** Parses `btrfs filesystem usage -b <mount>`; throws when a figure is missing. */
export function parseFilesystemUsage(text: string): FilesystemUsage {
  const overall = /^\s*Used:\s+(\d+)\s*$/m.exec(text);
  const data = /^Data,[^:]*:\s*Size:\d+,\s*Used:(\d+)/m.exec(text);
  const meta = /^Metadata,[^:]*:\s*Size:\d+,\s*Used:(\d+)/m.exec(text);
  if (!overall || !data || !meta) {
    throw new Error(
      `Cannot read "btrfs filesystem usage -b" output: no ${!overall ? "Used" : !data ? "Data" : "Metadata"} line in ${JSON.stringify(text.slice(0, 200))}`,
    );
  }
  return {
    usedBytes: Number(overall[1]),
    dataUsedBytes: Number(data[1]),
    metadataUsedBytes: Number(meta[1]),
  };
}

/** The URL stratad announces on stderr (`stratad listening on http://127.0.0.1:40459`), if this text has it. */
export function parseListenUrl(stderr: string): string | undefined {
  return /^stratad listening on (http:\/\/\S+)$/m.exec(stderr)?.[1];
}

/** The `rel="next"` URL of a `Link` header, if any. */
export function parseNextLink(header: string | null): string | undefined {
  return header ? /<([^>]+)>;\s*rel="next"/.exec(header)?.[1] : undefined;
}

/**
 * The `Name: <n> kB` lines of `/proc/meminfo` or `/proc/<pid>/status`, in bytes (fields
 * without a kB unit, such as `Threads: 1`, as they are). Other lines are skipped.
 */
export function parseKbFields(text: string): Map<string, number> {
  const fields = new Map<string, number>();
  for (const m of text.matchAll(/^([A-Za-z_()0-9]+):\s+(\d+)( kB)?\s*$/gm))
    fields.set(m[1]!, Number(m[2]) * (m[3] ? 1024 : 1));
  return fields;
}

/** The `name value` lines of a cgroup v1 file such as `memory.stat`. */
export function parseKeyValues(text: string): Map<string, number> {
  const fields = new Map<string, number>();
  for (const m of text.matchAll(/^(\w+) (\d+)$/gm)) fields.set(m[1]!, Number(m[2]));
  return fields;
}
