import assert from "node:assert/strict";
import { test } from "node:test";
import { percentile, summarise } from "./report.ts";

test("percentile() is the nearest-rank percentile", () => {
  const hundred = Array.from({ length: 100 }, (_, i) => 100 - i);
  assert.equal(percentile(hundred, 0.5), 50);
  assert.equal(percentile(hundred, 0.99), 99);
  assert.equal(percentile([3, 1, 2], 0.99), 3);
  assert.equal(percentile([3, 1, 2], 0.5), 2);
  assert.equal(percentile([7], 0), 7);
  assert.equal(percentile([], 0.5), undefined);
});

test("summarise() takes the mean of the middle two for an even count", () => {
  assert.deepEqual(summarise([4, 1, 3, 2]), { median: 2.5, min: 1, max: 4, n: 4 });
  assert.equal(summarise([]), null);
});
