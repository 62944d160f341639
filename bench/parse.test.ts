import assert from "node:assert/strict";
import { test } from "node:test";
import {
  parseFilesystemUsage,
  parseKbFields,
  parseKeyValues,
  parseListenUrl,
  parseNextLink,
} from "./parse.ts";

// btrfs-progs 6.2 (Debian 12), a 64 GiB loop pool holding 100 MiB of data.
const USAGE_6_2 = `Overall:
    Device size:\t\t       68719476736
    Device allocated:\t\t        3246391296
    Device unallocated:\t\t       65473085440
    Device missing:\t\t                 0
    Device slack:\t\t                 0
    Used:\t\t\t         105545728
    Free (estimated):\t\t       66450358272\t(min: 33713815552)
    Free (statfs, df):\t\t       66449309696
    Data ratio:\t\t\t              1.00
    Metadata ratio:\t\t              2.00
    Global reserve:\t\t           5767168\t(used: 0)
    Multiple profiles:\t\t                no

Data,single: Size:1082130432, Used:104857600 (9.69%)
   /dev/loop0\t1082130432

Metadata,DUP: Size:1073741824, Used:327680 (0.03%)
   /dev/loop0\t2147483648

System,DUP: Size:8388608, Used:16384 (0.20%)
   /dev/loop0\t  16777216

Unallocated:
   /dev/loop0\t65473085440
`;

test("parseFilesystemUsage() reads the overall, data and metadata figures", () => {
  assert.deepEqual(parseFilesystemUsage(USAGE_6_2), {
    usedBytes: 105545728,
    dataUsedBytes: 104857600,
    metadataUsedBytes: 327680,
  });
});

test("parseFilesystemUsage() fails on output without the figures", () => {
  assert.throws(() => parseFilesystemUsage("ERROR: not a btrfs filesystem"), /no Used line/);
});

test("parseListenUrl() finds the URL among stratad's stderr lines", () => {
  const stderr = "stratad listening on http://127.0.0.1:40459\nadmin token in /x/admin.token\n";
  assert.equal(parseListenUrl(stderr), "http://127.0.0.1:40459");
  assert.equal(parseListenUrl("stratad: Invalid --listen"), undefined);
});

test("parseNextLink() returns the next page's URL", () => {
  assert.equal(
    parseNextLink('<http://127.0.0.1:1/v1/snapshots?limit=200&cursor=abc>; rel="next"'),
    "http://127.0.0.1:1/v1/snapshots?limit=200&cursor=abc",
  );
  assert.equal(parseNextLink(null), undefined);
});

test("parseKbFields() reads /proc/meminfo and /proc/<pid>/status lines in bytes", () => {
  const meminfo =
    "MemTotal:       24684052 kB\nMemFree:        22207816 kB\nHugePages_Total:       0\n";
  const m = parseKbFields(meminfo);
  assert.equal(m.get("MemTotal"), 24684052 * 1024);
  assert.equal(m.get("HugePages_Total"), 0);
  const status = "Name:\tstrata-agent\nVmRSS:\t     932 kB\nRssAnon:\t      96 kB\nThreads:\t1\n";
  const s = parseKbFields(status);
  assert.equal(s.get("VmRSS"), 932 * 1024);
  assert.equal(s.get("RssAnon"), 96 * 1024);
  assert.equal(s.get("Threads"), 1);
  assert.equal(s.has("Name"), false);
});

test("parseKeyValues() reads a cgroup v1 memory.stat", () => {
  const stat = "cache 135168\nrss 98304\nrss_huge 0\ntotal_rss 98304\n";
  const m = parseKeyValues(stat);
  assert.equal(m.get("rss"), 98304);
  assert.equal(m.get("total_rss"), 98304);
  assert.equal(m.size, 4);
});
