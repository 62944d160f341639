import assert from "node:assert/strict";
import { test } from "node:test";
import { StrataError } from "../errors.ts";
import { parseCapacity, validateRegion, validateSlug } from "./validate.ts";

const limits = { minBytes: 300_000_000, maxBytes: 20_000_000_000 };

test("validateSlug() accepts 2–32 chars of [a-z0-9-] without edge hyphens", () => {
  for (const ok of ["ab", "my-toolchain", "a1", "x".repeat(32), "a-b-c", "abc--d"])
    validateSlug(ok);
});

test("validateSlug() fails with invalid_slug naming the bad value", () => {
  for (const bad of ["a", "x".repeat(33), "-ab", "ab-", "Ab", "a_b", "a b", "ab--cd", "", "ünï"]) {
    assert.throws(
      () => validateSlug(bad),
      (e: unknown) =>
        e instanceof StrataError &&
        e.code === "invalid_slug" &&
        e.message.includes(JSON.stringify(bad)),
      bad,
    );
  }
});

test("parseCapacity() accepts bytes and size strings within the limits", () => {
  assert.equal(parseCapacity("300MB", limits), 300_000_000);
  assert.equal(parseCapacity("20GB", limits), 20_000_000_000);
  assert.equal(parseCapacity("1GiB", limits), 1024 ** 3);
  assert.equal(parseCapacity(5_000_000_000, limits), 5_000_000_000);
});

test("parseCapacity() fails with invalid_capacity outside the limits or for garbage", () => {
  for (const bad of ["299MB", "21GB", "lots", -5, 1.5, "10 parsecs"]) {
    assert.throws(
      () => parseCapacity(bad, limits),
      (e: unknown) => e instanceof StrataError && e.code === "invalid_capacity",
      String(bad),
    );
  }
});

test("validateRegion() names the served regions when the region is unknown", () => {
  validateRegion("local", ["local"]);
  assert.throws(
    () => validateRegion("ord", ["local"]),
    /Unknown region "ord": this daemon serves "local"/,
  );
});
