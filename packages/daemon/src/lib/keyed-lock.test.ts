import assert from "node:assert/strict";
import { test } from "node:test";
import { KeyedLock } from "./keyed-lock.ts";

test("KeyedLock serialises holders of one key and lets other keys run", async () => {
  const locks = new KeyedLock();
  const order: string[] = [];
  const first = await locks.acquire("a");
  const second = locks.acquire("a").then((l) => {
    order.push("second");
    return l;
  });
  const other = await locks.acquire("b");
  order.push("other");
  other[Symbol.dispose]();
  assert.deepEqual(order, ["other"]);
  first[Symbol.dispose]();
  (await second)[Symbol.dispose]();
  assert.deepEqual(order, ["other", "second"]);
  assert.equal(locks.isHeld("a"), false);
});
