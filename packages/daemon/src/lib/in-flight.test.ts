import assert from "node:assert/strict";
import { test } from "node:test";
import { InFlight } from "./in-flight.ts";

test("drain() waits for the operations registered before it, failed ones included", async () => {
  const f = new InFlight();
  const order: string[] = [];
  const { promise: a, resolve } = Promise.withResolvers<void>();
  const { promise: b, reject } = Promise.withResolvers<void>();
  void f.track("snap", a).then(() => order.push("a"));
  void f.track("snap", b).catch(() => order.push("b failed"));
  assert.equal(f.count("snap"), 2);
  const drained = f.drain("snap").then(() => order.push("drained"));
  reject(new Error("boom"));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, ["b failed"]);
  resolve();
  await drained;
  assert.deepEqual(order, ["b failed", "a", "drained"]);
  assert.equal(f.count("snap"), 0);
});

test("drain() of a key with nothing in flight resolves at once", async () => {
  await new InFlight().drain("none");
});
