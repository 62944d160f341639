import assert from "node:assert/strict";
import { test } from "node:test";
import { formatSize, parseDuration, parseSize } from "./sizes.ts";

test("parseSize() reads decimal and binary units, any case, with or without a space", () => {
  assert.equal(parseSize("10GB"), 10_000_000_000);
  assert.equal(parseSize("300 MB"), 300_000_000);
  assert.equal(parseSize("1kB"), 1000);
  assert.equal(parseSize("1KB"), 1000);
  assert.equal(parseSize("1GiB"), 1024 ** 3);
  assert.equal(parseSize("512MiB"), 512 * 1024 ** 2);
  assert.equal(parseSize("1.5GiB"), 1.5 * 1024 ** 3);
  assert.equal(parseSize("4096"), 4096);
  assert.equal(parseSize(2048), 2048);
});

test("parseSize() rejects negative, fractional-byte, unknown-unit and non-numeric input", () => {
  for (const bad of ["", "GB", "-1GB", "10XB", "ten", "1e9", "1.2.3GB", "10 G B"])
    assert.equal(parseSize(bad), undefined, bad);
  for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 60])
    assert.equal(parseSize(bad), undefined, String(bad));
});

test("formatSize() prints decimal units with at most one decimal", () => {
  assert.equal(formatSize(0), "0 B");
  assert.equal(formatSize(999), "999 B");
  assert.equal(formatSize(1500), "1.5 kB");
  assert.equal(formatSize(10_000_000_000), "10 GB");
  assert.equal(formatSize(1_234_000_000), "1.2 GB");
  assert.equal(formatSize(300_000_000), "300 MB");
});

test("parseDuration() reads ms, s, m, h and d", () => {
  assert.equal(parseDuration("250ms"), 250);
  assert.equal(parseDuration("600s"), 600_000);
  assert.equal(parseDuration("30m"), 1_800_000);
  assert.equal(parseDuration("24h"), 86_400_000);
  assert.equal(parseDuration("1d"), 86_400_000);
  assert.equal(parseDuration("30"), undefined);
  assert.equal(parseDuration("1w"), undefined);
});
