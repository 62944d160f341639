import type { Event } from "@strata/sdk";
import { paint, type RenderOptions, renderTable } from "./output.ts";

/** An ISO time to the second, as tables show it. */
function shortTime(iso: string): string {
  return iso.replace(/\.\d+Z$/, "Z");
}

function eventType(type: string, opts: RenderOptions): string {
  if (type === "snapshot.failed") return paint(type, "red", opts);
  if (type === "snapshot.skipped") return paint(type, "yellow", opts);
  return type;
}

/** `TIME  TYPE  SANDBOX  SNAPSHOT  MESSAGE`, oldest first as the daemon lists them. */
export function eventsTable(events: Event[], opts: RenderOptions = {}): string {
  return renderTable(
    ["TIME", "TYPE", "SANDBOX", "SNAPSHOT", "MESSAGE"],
    events.map((e) => [
      shortTime(e.createdAt),
      eventType(e.type, opts),
      e.sandbox ?? "-",
      e.snapshot ?? "-",
      e.message,
    ]),
    opts,
  );
}
