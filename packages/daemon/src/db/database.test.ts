import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ephemeralWrite, openDatabase, transaction } from "./database.ts";

function withDb(fn: (db: ReturnType<typeof openDatabase>) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "strata-db-"));
  const db = openDatabase(join(dir, "strata.db"));
  try {
    db.exec("CREATE TABLE t (v TEXT)");
    fn(db);
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const syncLevel = (db: ReturnType<typeof openDatabase>) =>
  (db.prepare("PRAGMA synchronous").get() as { synchronous: number }).synchronous;

test("ephemeral writes and non-durable transactions commit without fsync, then durability is back", () => {
  withDb((db) => {
    assert.equal(syncLevel(db), 2, "FULL by default");
    ephemeralWrite(db, () => {
      assert.equal(syncLevel(db), 1, "NORMAL during an ephemeral write");
      db.prepare("INSERT INTO t VALUES ('a')").run();
    });
    transaction(db, () => db.prepare("INSERT INTO t VALUES ('b')").run(), { durable: false });
    assert.throws(() =>
      transaction(
        db,
        () => {
          db.prepare("INSERT INTO t VALUES ('c')").run();
          throw new Error("undo");
        },
        { durable: false },
      ),
    );
    assert.equal(syncLevel(db), 2, "FULL again, even after a rollback");
    assert.deepEqual(
      db
        .prepare("SELECT v FROM t ORDER BY v")
        .all()
        .map((r) => r.v),
      ["a", "b"],
    );
  });
});

test("an ephemeral write inside a transaction joins it and leaves its durability alone", () => {
  withDb((db) => {
    transaction(db, () => {
      ephemeralWrite(db, () => db.prepare("INSERT INTO t VALUES ('a')").run());
      assert.equal(syncLevel(db), 2);
    });
    assert.equal(syncLevel(db), 2);
  });
});
