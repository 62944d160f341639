import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** What a driver remembers about one layer besides its files. Every field is optional. */
export interface LayerRecord {
  /**
   * Bytes the layer inherited from the layer it was cloned from, fixed when it was made
   * (btrfs simple quotas, where a clone's qgroup counts only what the clone writes).
   */
  inheritedBytes?: number;
  /** A read-only layer's referenced bytes, recorded once when it was made. */
  referencedBytes?: number;
  /** A read-only layer's exclusive bytes, recorded when the driver knows they never change. */
  exclusiveBytes?: number;
}

/**
 * One small JSON file per layer in `<dir>/<name>`, all of them held in memory, so that
 * reading a record costs nothing. Names are layer ids or a driver's internal names
 * (`<id>@restore`); both are safe as file names. Writes go through a temporary file and a
 * rename, so a crash leaves the old record or the new one.
 *
 * A file holding a bare decimal number is a record written before records had fields
 * (the btrfs driver's inherited sizes): it reads as `{ inheritedBytes }`.
 */
export class LayerRecords {
  readonly #dir: string;
  readonly #records: Map<string, LayerRecord>;

  private constructor(dir: string, records: Map<string, LayerRecord>) {
    this.#dir = dir;
    this.#records = records;
  }

  /** Reads every record in `dir` (made if missing); an unreadable file counts as no record. */
  static async load(dir: string): Promise<LayerRecords> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const records = new Map<string, LayerRecord>();
    for (const name of await readdir(dir)) {
      if (name.endsWith(".tmp")) {
        await rm(join(dir, name), { force: true });
        continue;
      }
      const record = parseRecord(await readFile(join(dir, name), "utf8").catch(() => ""));
      if (record) records.set(name, record);
    }
    return new LayerRecords(dir, records);
  }

  /** The record of `name`; `{}` when there is none. */
  get(name: string): LayerRecord {
    return this.#records.get(name) ?? {};
  }

  /** Every name with a record, internal names included. */
  names(): string[] {
    return [...this.#records.keys()];
  }

  /** Replaces the record of `name` (an empty record removes it). */
  async set(name: string, record: LayerRecord): Promise<void> {
    const clean = cleanRecord(record);
    if (Object.keys(clean).length === 0) return this.remove(name);
    const tmp = join(this.#dir, `${name}.tmp`);
    await writeFile(tmp, JSON.stringify(clean), { mode: 0o600 });
    await rename(tmp, join(this.#dir, name));
    this.#records.set(name, clean);
  }

  /** Adds fields to the record of `name`, keeping the others. */
  update(name: string, fields: LayerRecord): Promise<void> {
    return this.set(name, { ...this.get(name), ...fields });
  }

  /** Gives `to` the record of `from` (or none), and drops `from`. */
  async move(from: string, to: string): Promise<void> {
    const record = this.#records.get(from);
    if (record) {
      await rename(join(this.#dir, from), join(this.#dir, to));
      this.#records.set(to, record);
      this.#records.delete(from);
    } else await this.remove(to);
  }

  async remove(name: string): Promise<void> {
    await rm(join(this.#dir, name), { force: true });
    this.#records.delete(name);
  }
}

const FIELDS = ["inheritedBytes", "referencedBytes", "exclusiveBytes"] as const;

function parseRecord(text: string): LayerRecord | null {
  const trimmed = text.trim();
  if (/^[0-9]+$/.test(trimmed)) return cleanRecord({ inheritedBytes: Number(trimmed) });
  try {
    const parsed: unknown = JSON.parse(trimmed);
    if (typeof parsed !== "object" || parsed === null) return null;
    const record = cleanRecord(parsed);
    return Object.keys(record).length ? record : null;
  } catch {
    return null;
  }
}

/** Keeps the known fields that hold a byte count; drops a zero inherited size. */
function cleanRecord(input: { readonly [F in (typeof FIELDS)[number]]?: unknown }): LayerRecord {
  const out: LayerRecord = {};
  for (const f of FIELDS) {
    const v = input[f];
    if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) out[f] = v;
  }
  if (out.inheritedBytes === 0) delete out.inheritedBytes;
  return out;
}
