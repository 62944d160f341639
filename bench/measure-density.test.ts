import assert from "node:assert/strict";
import { test } from "node:test";
import { pinnedBytes } from "./measure-density.ts";
import { parseKbFields } from "./parse.ts";

test("pinnedBytes() leaves out page cache and reclaimable slab but keeps shmem", () => {
  const m = parseKbFields(
    [
      "MemTotal:       1000 kB",
      "MemFree:         100 kB",
      "Buffers:          50 kB",
      "Cached:          400 kB",
      "Shmem:            30 kB",
      "SReclaimable:     70 kB",
    ].join("\n"),
  );
  // 1000 − 100 − 50 − (400 − 30) − 70
  assert.equal(pinnedBytes(m), 410 * 1024);
});
