import type { DatabaseSync } from "node:sqlite";

export interface ImageRow {
  name: string;
  layer_id: string | null;
  status: "building" | "ready" | "failed";
  phase: string | null;
  failure_reason: string | null;
  size_bytes: number | null;
  built_at: string | null;
}

/** Builtin image records: one row per image name, describing its latest build. */
export class ImagesRepo {
  readonly #db: DatabaseSync;
  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  get(name: string): ImageRow | undefined {
    return this.#db.prepare("SELECT * FROM images WHERE name = ?").get(name) as
      | ImageRow
      | undefined;
  }

  all(): ImageRow[] {
    return this.#db.prepare("SELECT * FROM images").all() as unknown as ImageRow[];
  }

  upsert(row: ImageRow): void {
    this.#db
      .prepare(
        `INSERT INTO images (name, layer_id, status, phase, failure_reason, size_bytes, built_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(name) DO UPDATE SET layer_id = excluded.layer_id, status = excluded.status, phase = excluded.phase,
           failure_reason = excluded.failure_reason, size_bytes = excluded.size_bytes, built_at = excluded.built_at`,
      )
      .run(
        row.name,
        row.layer_id,
        row.status,
        row.phase,
        row.failure_reason,
        row.size_bytes,
        row.built_at,
      );
  }

  setPhase(name: string, phase: string): void {
    this.#db.prepare("UPDATE images SET phase = ? WHERE name = ?").run(phase, name);
  }
}
