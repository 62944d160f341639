import assert from "node:assert/strict";
import { test } from "node:test";
import { parseSubvolumeList } from "./parse.ts";

test("parseSubvolumeList() reads ids and paths, including paths with spaces", () => {
  const text =
    "ID 256 gen 9 top level 5 path strata/writable/vol_a\nID 300 gen 12 top level 256 path strata/writable/vol_a/my dir/inner\n";
  assert.deepEqual(parseSubvolumeList(text), [
    { id: 256, path: "strata/writable/vol_a" },
    { id: 300, path: "strata/writable/vol_a/my dir/inner" },
  ]);
});
