import type { Image, Snapshot, SnapshotCreate, Volume, VolumeRestore } from "@strata/api";
import { StrataError } from "./errors.ts";
import { type ListOptions, listPages, type PaginatedList } from "./paginated-list.ts";
import { sleep } from "./poll.ts";
import { seg, type Transport } from "./transport.ts";

/** What `volumes.create()` takes: `region` defaults to the daemon's own region. */
export interface VolumeInit {
  /**
   * Unique within the organisation, shared with snapshot slugs and names: 2–63 of
   * `[a-z0-9.-]`, a letter or digit at each end, no `--` at positions 3–4, no `..`.
   */
  slug: string;
  /** A region the daemon serves; defaults to the one `GET /v1/health` reports. */
  region?: string;
  /** Bytes, or a size string such as `"10GB"` or `"512MiB"`; the daemon parses it. */
  capacity: number | string;
  /** `"builtin:debian-13"`, or a snapshot id or slug in the same region. Omit for an empty volume. */
  from?: string;
}

/** Options of `volumes.create()` while it waits for a volume that is not ready at once. */
export interface VolumeCreateOptions {
  /**
   * Called after each poll while the volume is `creating`, with the base image's build
   * status when the volume starts from an image.
   */
  onProgress?: (volume: Volume, image?: Image) => void;
  /** Stops waiting (the daemon still finishes creating the volume). */
  signal?: AbortSignal;
  /** Milliseconds between polls (default 250). */
  pollInterval?: number;
}

/** `client.volumes`: writable filesystems with a hard capacity, kept across sandboxes. */
export class Volumes {
  readonly #t: Transport;
  readonly #defaultRegion: () => Promise<string>;

  /** @internal Use `client.volumes`. */
  constructor(transport: Transport, defaultRegion: () => Promise<string>) {
    this.#t = transport;
    this.#defaultRegion = defaultRegion;
  }

  /**
   * Creates a volume and resolves once it is `ready`. A volume from `builtin:debian-13`
   * waits for the image's first build (minutes, once per daemon); `onProgress` reports it.
   * Throws a {@link StrataError} with code `volume_failed` if the volume ends `failed`.
   *
   * @example
   * ```ts
   * const volume = await client.volumes.create(
   *   { slug: "data", capacity: "10GB", from: "builtin:debian-13" },
   *   { onProgress: (v, image) => console.log(v.status, image?.phase) },
   * );
   * ```
   */
  async create(init: VolumeInit, options: VolumeCreateOptions = {}): Promise<Volume> {
    const region = init.region ?? (await this.#defaultRegion());
    const body = { slug: init.slug, region, capacity: init.capacity, from: init.from };
    const res = await this.#t.request("POST", "/volumes", { body, signal: options.signal });
    let volume = res.data as Volume;
    const image = volume.base?.kind === "image" ? volume.base.image : undefined;
    const interval = options.pollInterval ?? 250;
    while (volume.status === "creating") {
      if (options.onProgress) {
        const img = image ? await this.#image(image, options.signal) : undefined;
        options.onProgress(volume, img);
      }
      await sleep(interval, options.signal);
      volume = await this.#t.json<Volume>("GET", `/volumes/${seg(volume.id)}`, {
        signal: options.signal,
      });
    }
    if (volume.status === "failed") {
      throw new StrataError(
        "volume_failed",
        `Volume ${JSON.stringify(volume.slug)} (${volume.id}) failed: ${volume.failureReason ?? "no reason given"}`,
      );
    }
    return volume;
  }

  /**
   * Lists volumes one page at a time; iterate the result with `for await`
   * to walk all pages.
   *
   * @example
   * ```ts
   * for await (const v of await client.volumes.list({ search: "ci-" })) console.log(v.slug);
   * ```
   */
  list(options: ListOptions = {}): Promise<PaginatedList<Volume>> {
    return listPages<Volume>(this.#t, "/volumes", options);
  }

  /**
   * Gets a volume by id or slug; `null` when there is none.
   *
   * @example
   * ```ts
   * const volume = await client.volumes.get("data");
   * if (volume) console.log(volume.capacity, volume.estimatedFlattenedSize);
   * ```
   */
  get(idOrSlug: string, options: { signal?: AbortSignal } = {}): Promise<Volume | null> {
    return this.#t.getOrNull<Volume>(`/volumes/${seg(idOrSlug)}`, options.signal);
  }

  /**
   * Deletes a volume. Its slug is free again at once; snapshots taken from it remain.
   * Throws `volume_in_use` while a sandbox has it attached.
   *
   * @example
   * ```ts
   * await client.volumes.delete("data");
   * ```
   */
  async delete(idOrSlug: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.#t.request("DELETE", `/volumes/${seg(idOrSlug)}`, { signal: options.signal });
  }

  /**
   * Takes a read-only snapshot of a volume, instantly whatever its size.
   *
   * @example
   * ```ts
   * const snapshot = await client.volumes.snapshot("data", { slug: "data-v1" });
   * await client.volumes.create({ slug: "data-copy", capacity: "10GB", from: snapshot.slug });
   * ```
   */
  snapshot(
    idOrSlug: string,
    init: SnapshotCreate,
    options: { signal?: AbortSignal } = {},
  ): Promise<Snapshot> {
    return this.#t.json<Snapshot>("POST", `/volumes/${seg(idOrSlug)}/snapshots`, {
      body: init,
      signal: options.signal,
    });
  }

  /**
   * Rolls a volume back in place to one of its own snapshots: it keeps its id, slug and
   * capacity and takes the snapshot's content (the snapshot is unchanged). Throws
   * `volume_in_use` while a sandbox has it attached, `snapshot_not_of_volume` for a
   * snapshot of another volume.
   *
   * @example
   * ```ts
   * await client.volumes.snapshot("data", { slug: "data-good" });
   * // ... a sandbox breaks the data ...
   * await client.volumes.restore("data", { snapshot: "data-good" });
   * ```
   */
  restore(
    idOrSlug: string,
    init: VolumeRestore,
    options: { signal?: AbortSignal } = {},
  ): Promise<Volume> {
    return this.#t.json<Volume>("POST", `/volumes/${seg(idOrSlug)}/restore`, {
      body: init,
      signal: options.signal,
    });
  }

  async #image(name: string, signal: AbortSignal | undefined): Promise<Image | undefined> {
    return (await this.#t.getOrNull<Image>(`/images/${seg(name)}`, signal)) ?? undefined;
  }
}
