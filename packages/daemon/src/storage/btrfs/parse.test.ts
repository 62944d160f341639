import assert from "node:assert/strict";
import { test } from "node:test";
import { parseQgroupShow, parseSubvolumeList } from "./parse.ts";

// btrfs-progs 6.2 (Debian 12), `btrfs qgroup show --raw`
const QGROUP_6_2 = `Qgroupid    Referenced    Exclusive   Path 
--------    ----------    ---------   ---- 
0/5              16384        16384   <toplevel>
0/256         20987904        16384   strata/writable/vol_a
0/257         20987904        16384   strata/readonly/snp_a
1/100         41975808     20987904   <0 member qgroups>
`;

// btrfs-progs 5.10 (Debian 11): lower-case short headers, no Path column
const QGROUP_5_10 = `qgroupid         rfer         excl 
--------         ----         ---- 
0/5             16384        16384 
0/258         1048576      1048576 
`;

// `--raw -re` adds limit columns between Exclusive and Path
const QGROUP_LIMITS = `Qgroupid    Referenced    Exclusive  Max referenced  Max exclusive   Path 
--------    ----------    ---------  --------------  -------------   ---- 
0/256         20987904        16384        10485760           none   rw/a
`;

test("parseQgroupShow() reads btrfs-progs 6.x output with a Path column", () => {
  assert.deepEqual(parseQgroupShow(QGROUP_6_2), [
    { subvolumeId: 5, referenced: 16384, exclusive: 16384 },
    { subvolumeId: 256, referenced: 20987904, exclusive: 16384 },
    { subvolumeId: 257, referenced: 20987904, exclusive: 16384 },
    { subvolumeId: null, referenced: 41975808, exclusive: 20987904 },
  ]);
});

test("parseQgroupShow() reads btrfs-progs 5.x output with rfer/excl headers", () => {
  assert.deepEqual(parseQgroupShow(QGROUP_5_10), [
    { subvolumeId: 5, referenced: 16384, exclusive: 16384 },
    { subvolumeId: 258, referenced: 1048576, exclusive: 1048576 },
  ]);
});

test("parseQgroupShow() finds columns by name when limit columns are present", () => {
  assert.deepEqual(parseQgroupShow(QGROUP_LIMITS), [
    { subvolumeId: 256, referenced: 20987904, exclusive: 16384 },
  ]);
});

test("parseQgroupShow() returns nothing for output without a header (quotas disabled)", () => {
  assert.deepEqual(parseQgroupShow("ERROR: can't list qgroups: quotas not enabled\n"), []);
});

test("parseSubvolumeList() reads ids and paths, including paths with spaces", () => {
  const text =
    "ID 256 gen 9 top level 5 path strata/writable/vol_a\nID 300 gen 12 top level 256 path strata/writable/vol_a/my dir/inner\n";
  assert.deepEqual(parseSubvolumeList(text), [
    { id: 256, path: "strata/writable/vol_a" },
    { id: 300, path: "strata/writable/vol_a/my dir/inner" },
  ]);
});
