import { DatabaseSync } from "node:sqlite";
import { MIGRATIONS } from "./migrations.ts";

/**
 * Opens the daemon's SQLite database and brings its schema up to date. The repositories
 * beside this file are the only code that writes SQL, so PostgreSQL can replace SQLite by
 * replacing them.
 */
export function openDatabase(path: string): DatabaseSync {
  const db = new DatabaseSync(path);
  db.exec(
    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
  );
  const row = db.prepare("PRAGMA user_version").get() as { user_version: number };
  for (let v = row.user_version; v < MIGRATIONS.length; v++) {
    transaction(db, () => {
      db.exec(MIGRATIONS[v]!);
      db.exec(`PRAGMA user_version = ${v + 1}`);
    });
  }
  return db;
}

/**
 * Runs `fn` in a transaction. `fn` must be synchronous: a transaction cannot span an await.
 * With `durable: false` the commit does not wait for an fsync (see {@link ephemeralWrite}).
 */
export function transaction<T>(
  db: DatabaseSync,
  fn: () => T,
  options: { durable?: boolean } = {},
): T {
  return (options.durable === false ? (f: () => T) => relaxed(db, f) : (f: () => T) => f())(() => {
    db.exec("BEGIN IMMEDIATE");
    try {
      const result = fn();
      db.exec("COMMIT");
      return result;
    } catch (err) {
      db.exec("ROLLBACK");
      throw err;
    }
  });
}

/**
 * Runs a write whose commit need not survive a power loss: state of running sandboxes,
 * which a power loss ends anyway (the start-up reconcile repairs whatever a lost write
 * leaves). In WAL mode with `synchronous = NORMAL` the commit is still atomic and
 * survives a crash of the daemon; only the fsync (1–5 ms here) is skipped. Inside a
 * transaction the write simply joins it: the transaction decides.
 */
export function ephemeralWrite<T>(db: DatabaseSync, fn: () => T): T {
  return db.isTransaction ? fn() : relaxed(db, fn);
}

function relaxed<T>(db: DatabaseSync, fn: () => T): T {
  db.exec("PRAGMA synchronous = NORMAL");
  try {
    return fn();
  } finally {
    db.exec("PRAGMA synchronous = FULL");
  }
}
