import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";

/**
 * How many bytes each layer inherited from the layer it was cloned from, one small file per
 * layer in `<dir>/<name>` (a decimal number; no file: nothing inherited).
 *
 * Under btrfs simple quotas a subvolume's qgroup counts only the extents the subvolume
 * wrote itself: a fresh snapshot or clone counts zero. The driver adds what a layer
 * inherited to that count to report its size, and takes it off a capacity to set the
 * qgroup limit. The figure is fixed when the layer is made (the source's size at that
 * instant), so it is an upper bound: a layer that deletes or rewrites inherited files
 * still counts them, since the layer they came from holds them on disk anyway.
 *
 * Names are layer ids or the driver's internal names (`<id>@restore`); both are made of
 * characters that are safe as file names. Writes go through a temporary file and a rename,
 * so a crash leaves the old figure or the new one.
 */
export class InheritedSizes {
  readonly #dir: string;
  readonly #bytes: Map<string, number>;

  private constructor(dir: string, bytes: Map<string, number>) {
    this.#dir = dir;
    this.#bytes = bytes;
  }

  /** Reads every figure in `dir` (made if missing); unreadable files count as nothing inherited. */
  static async load(dir: string): Promise<InheritedSizes> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const bytes = new Map<string, number>();
    for (const name of await readdir(dir)) {
      if (name.endsWith(".tmp")) {
        await rm(join(dir, name), { force: true });
        continue;
      }
      const n = Number((await readFile(join(dir, name), "utf8").catch(() => "")).trim());
      if (Number.isSafeInteger(n) && n > 0) bytes.set(name, n);
    }
    return new InheritedSizes(dir, bytes);
  }

  get(name: string): number {
    return this.#bytes.get(name) ?? 0;
  }

  /** Every name with a figure, internal names included. */
  names(): string[] {
    return [...this.#bytes.keys()];
  }

  async set(name: string, bytes: number): Promise<void> {
    if (bytes <= 0) return this.remove(name);
    const tmp = join(this.#dir, `${name}.tmp`);
    await writeFile(tmp, String(bytes), { mode: 0o600 });
    await rename(tmp, join(this.#dir, name));
    this.#bytes.set(name, bytes);
  }

  /** Gives `to` the figure of `from` (or none), and drops `from`. */
  async move(from: string, to: string): Promise<void> {
    const bytes = this.get(from);
    if (bytes > 0) {
      await rename(join(this.#dir, from), join(this.#dir, to));
      this.#bytes.set(to, bytes);
      this.#bytes.delete(from);
    } else await this.remove(to);
  }

  async remove(name: string): Promise<void> {
    await rm(join(this.#dir, name), { force: true });
    this.#bytes.delete(name);
  }
}
