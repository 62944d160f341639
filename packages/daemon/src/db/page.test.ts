import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeCursor, encodeCursor, likeContains, toPage } from "./page.ts";

test("a cursor round-trips, and foreign strings are not cursors", () => {
  const c = { createdAt: "2026-01-01T00:00:00.000Z", id: "vol_1" };
  assert.deepEqual(decodeCursor(encodeCursor(c)), c);
  assert.equal(decodeCursor("garbage"), undefined);
  assert.equal(decodeCursor(Buffer.from('{"a":1}').toString("base64url")), undefined);
});

test("likeContains() escapes LIKE wildcards", () => {
  assert.equal(likeContains("a%b_c\\"), "%a\\%b\\_c\\\\%");
});

test("toPage() announces a next cursor only when more rows exist", () => {
  const rows = [1, 2, 3].map((n) => ({ id: `v${n}`, created_at: `t${n}` }));
  const full = toPage(rows, 2, (r) => r.id);
  assert.deepEqual(full.items, ["v1", "v2"]);
  assert.deepEqual(decodeCursor(full.nextCursor ?? ""), { createdAt: "t2", id: "v2" });
  assert.equal(toPage(rows, 3, (r) => r.id).nextCursor, null);
});
