import assert from "node:assert/strict";
import { test } from "node:test";
import { StrataError } from "../errors.ts";
import { enforce, parseCapacity, validateRegion } from "./validate.ts";

const limits = { minBytes: 300_000_000, maxBytes: 20_000_000_000 };

test("parseCapacity() accepts bytes and size strings within the limits", () => {
  assert.equal(parseCapacity("300MB", limits), 300_000_000);
  assert.equal(parseCapacity("20GB", limits), 20_000_000_000);
  assert.equal(parseCapacity("1GiB", limits), 1024 ** 3);
  assert.equal(parseCapacity(5_000_000_000, limits), 5_000_000_000);
});

test("parseCapacity() fails with invalid_capacity outside the limits or for garbage", () => {
  for (const [bad, why] of [
    ["299MB", /"299MB": it must be between 300 MB and 20 GB/],
    ["21GB", /between 300 MB and 20 GB/],
    ["lots", /"lots": give a whole number of bytes/],
    [-5, /-5: give a whole number/],
    [1.5, /1\.5: give a whole number/],
    ["10 parsecs", /"10 parsecs"/],
  ] as const) {
    assert.throws(
      () => parseCapacity(bad, limits),
      (e: unknown) =>
        e instanceof StrataError && e.code === "invalid_capacity" && why.test(e.message),
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

test("enforce() throws a broken rule as a StrataError with the rule's code and message", () => {
  enforce(undefined);
  assert.throws(
    () => enforce({ code: "invalid_port", message: "Invalid port 0: 1–65535" }),
    (e: unknown) =>
      e instanceof StrataError &&
      e.code === "invalid_port" &&
      e.kind === "InvalidArgument" &&
      e.message === "Invalid port 0: 1–65535",
  );
});
