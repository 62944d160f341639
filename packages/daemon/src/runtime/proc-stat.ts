/** Pure parsing of `/proc/<pid>/stat` and crun's container `status` file. */

export interface ProcStat {
  /** One letter: R, S, D, Z (zombie), X (dead), ... */
  state: string;
  /** The parent's pid (field 4). */
  ppid: number;
  /** Start time in clock ticks after boot (field 22): tells a reused pid apart. */
  startTime: number;
}

/** Parses `/proc/<pid>/stat`; the command name may hold spaces and parentheses. */
export function parseProcStat(text: string): ProcStat | undefined {
  const end = text.lastIndexOf(")");
  if (end < 0) return undefined;
  const fields = text
    .slice(end + 2)
    .trim()
    .split(" ");
  // fields[0] is field 3 (state), fields[1] field 4 (ppid); field 22 (starttime) is fields[19].
  const ppid = Number(fields[1]);
  const startTime = Number(fields[19]);
  if (!fields[0] || !Number.isSafeInteger(ppid) || !Number.isSafeInteger(startTime))
    return undefined;
  return { state: fields[0], ppid, startTime };
}

/** A container's init as crun records it (`<state root>/<id>/status`). */
export interface InitProcess {
  pid: number;
  startTime: number;
}

export function parseCrunStatus(text: string): InitProcess | undefined {
  try {
    const s = JSON.parse(text) as { pid?: unknown; "process-start-time"?: unknown };
    const pid = s.pid;
    const startTime = s["process-start-time"];
    if (typeof pid !== "number" || typeof startTime !== "number" || pid <= 0) return undefined;
    return { pid, startTime };
  } catch {
    return undefined;
  }
}

/** Whether `stat` (undefined: /proc/<pid> is gone) shows that `init` has exited. */
export function hasExited(init: InitProcess, stat: ProcStat | undefined): boolean {
  return stat === undefined || stat.startTime !== init.startTime || /^[ZX]/.test(stat.state);
}
