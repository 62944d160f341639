import type { DatabaseSync, SQLInputValue } from "node:sqlite";

/** Reads rows of one table as records, through that table's row → record mapping. */
export class Rows<Row, Rec> {
  readonly #db: DatabaseSync;
  readonly #toRecord: (row: Row) => Rec;

  constructor(db: DatabaseSync, toRecord: (row: Row) => Rec) {
    this.#db = db;
    this.#toRecord = toRecord;
  }

  one(sql: string, ...args: SQLInputValue[]): Rec | undefined {
    const row = this.#db.prepare(sql).get(...args) as Row | undefined;
    return row === undefined ? undefined : this.#toRecord(row);
  }

  many(sql: string, ...args: SQLInputValue[]): Rec[] {
    return (this.#db.prepare(sql).all(...args) as unknown as Row[]).map(this.#toRecord);
  }
}

/** `INSERT INTO table (<the row's columns>) VALUES (…)`, for a row whose keys are its columns. */
export function insertRow(db: DatabaseSync, table: string, row: object): void {
  const cols = Object.keys(row);
  db.prepare(
    `INSERT INTO ${table} (${cols.join(", ")}) VALUES (${cols.map(() => "?").join(", ")})`,
  ).run(...(Object.values(row) as SQLInputValue[]));
}
