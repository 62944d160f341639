import type { DatabaseSync } from "node:sqlite";
import { fromIso, toIso } from "./codec.ts";
import type { ImageRecord, ImageStatus } from "./records.ts";

interface ImageRow {
  name: string;
  recipe: string | null;
  layer_id: string | null;
  status: ImageStatus;
  phase: string | null;
  failure_reason: string | null;
  size_bytes: number | null;
  built_at: string | null;
}

function toRecord(r: ImageRow): ImageRecord {
  return {
    name: r.name,
    recipe: r.recipe,
    layerId: r.layer_id,
    status: r.status,
    phase: r.phase,
    failureReason: r.failure_reason,
    sizeBytes: r.size_bytes,
    builtAt: fromIso(r.built_at),
  };
}

/** Builtin image records: one per image name, describing its latest build. */
export class ImagesRepo {
  readonly #db: DatabaseSync;
  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  get(name: string): ImageRecord | undefined {
    const row = this.#db.prepare("SELECT * FROM images WHERE name = ?").get(name) as
      | ImageRow
      | undefined;
    return row && toRecord(row);
  }

  all(): ImageRecord[] {
    return (this.#db.prepare("SELECT * FROM images").all() as unknown as ImageRow[]).map(toRecord);
  }

  upsert(image: ImageRecord): void {
    this.#db
      .prepare(
        `INSERT INTO images (name, recipe, layer_id, status, phase, failure_reason, size_bytes, built_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(name) DO UPDATE SET recipe = excluded.recipe, layer_id = excluded.layer_id, status = excluded.status, phase = excluded.phase,
           failure_reason = excluded.failure_reason, size_bytes = excluded.size_bytes, built_at = excluded.built_at`,
      )
      .run(
        image.name,
        image.recipe,
        image.layerId,
        image.status,
        image.phase,
        image.failureReason,
        image.sizeBytes,
        toIso(image.builtAt),
      );
  }

  setPhase(name: string, phase: string): void {
    this.#db.prepare("UPDATE images SET phase = ? WHERE name = ?").run(phase, name);
  }
}
