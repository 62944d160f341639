import assert from "node:assert/strict";
import { test } from "node:test";
import { NftQueue } from "./nft-queue.ts";

test("NftQueue merges batches that queue up during a load into one transaction", async () => {
  const loads: string[] = [];
  const queue = new NftQueue(async (text) => {
    loads.push(text);
    await new Promise((r) => setTimeout(r, 5));
  });
  await Promise.all([queue.run("a\n"), queue.run("b\n"), queue.run("c\n")]);
  assert.deepEqual(loads, ["a\n", "b\nc\n"]);
});

test("NftQueue retries a failed merged transaction batch by batch, failing only the culprit", async () => {
  const loads: string[] = [];
  const queue = new NftQueue(async (text) => {
    loads.push(text);
    await new Promise((r) => setTimeout(r, 5));
    if (text.includes("bad")) throw new Error("nft refused");
  });
  const results = await Promise.allSettled([
    queue.run("a\n"),
    queue.run("bad\n"),
    queue.run("c\n"),
  ]);
  assert.deepEqual(
    results.map((r) => r.status),
    ["fulfilled", "rejected", "fulfilled"],
  );
  assert.deepEqual(loads, ["a\n", "bad\nc\n", "bad\n", "c\n"]);
});
