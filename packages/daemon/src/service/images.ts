import { BUILTIN_IMAGES, type BuiltinImage, type Image } from "@strata/api";
import type { ImageRecord } from "../db/records.ts";
import type { Store } from "../db/store.ts";
import { q, StrataError } from "../errors.ts";
import { newId } from "../lib/ids.ts";
import type { Logger } from "../lib/logger.ts";
import type { StorageDriver } from "../storage/driver.ts";
import { sizeOf } from "./layers.ts";

/** Fills an empty folder with an image's root filesystem. */
export interface ImageBuilder {
  /**
   * What decides the content `build` makes for `name` (its packages, say), recorded with
   * the built image: an image recorded with another recipe (or none) is out of date and is
   * built again on its next use. A builder without recipes never makes images out of date.
   */
  recipe?(name: BuiltinImage): string;
  /** Builds `name` into the empty folder `target`; stops (and rejects) when `signal` aborts. */
  build(
    name: BuiltinImage,
    target: string,
    options: { onPhase: (phase: string) => void; signal: AbortSignal },
  ): Promise<void>;
}

/**
 * Builtin base images: built on first use into a read-only layer, once. Concurrent first
 * uses share one build; a failed build is recorded with its reason and retried by the
 * next use.
 */
export class ImageService {
  readonly #repo: Store["images"];
  readonly #driver: StorageDriver;
  readonly #builder: ImageBuilder;
  readonly #log: Logger;
  readonly #inFlight = new Map<string, Promise<string>>();
  readonly #abort = new AbortController();

  constructor(deps: {
    repo: Store["images"];
    driver: StorageDriver;
    builder: ImageBuilder;
    log: Logger;
  }) {
    this.#repo = deps.repo;
    this.#driver = deps.driver;
    this.#builder = deps.builder;
    this.#log = deps.log;
  }

  static isBuiltin(name: string): name is BuiltinImage {
    return (BUILTIN_IMAGES as readonly string[]).includes(name);
  }

  get(name: string): Image {
    if (!ImageService.isBuiltin(name))
      throw new StrataError(
        "image_not_found",
        `Unknown image ${q(name)}: builtin images are ${BUILTIN_IMAGES.join(", ")}`,
      );
    const row = this.#repo.get(name);
    // An out-of-date build is as good as none: the next use builds the image again.
    if (row?.status === "ready" && !this.#current(row)) return this.#absent(name);
    return {
      name,
      status: row?.status ?? "absent",
      phase: row?.status === "building" ? row.phase : null,
      failureReason: row?.failureReason ?? null,
      sizeBytes: row?.sizeBytes ?? null,
      builtAt: row?.builtAt?.toISOString() ?? null,
    };
  }

  #absent(name: BuiltinImage): Image {
    return {
      name,
      status: "absent",
      phase: null,
      failureReason: null,
      sizeBytes: null,
      builtAt: null,
    };
  }

  #current(row: ImageRecord): boolean {
    return (
      this.#builder.recipe === undefined ||
      row.recipe === this.#builder.recipe(row.name as BuiltinImage)
    );
  }

  list(): Image[] {
    return BUILTIN_IMAGES.map((n) => this.get(n));
  }

  /** The layer of a built image, or undefined when it is not built (yet). */
  readyLayer(name: BuiltinImage): string | undefined {
    const row = this.#repo.get(name);
    return row?.status === "ready" && row.layerId && this.#current(row) ? row.layerId : undefined;
  }

  /** Resolves with the image's layer id, building it first if needed. */
  ensure(name: BuiltinImage): Promise<string> {
    if (this.#abort.signal.aborted) {
      return Promise.reject(
        new StrataError(
          "shutting_down",
          `Cannot build image ${q(name)}: the daemon is shutting down`,
        ),
      );
    }
    const ready = this.readyLayer(name);
    if (ready) return Promise.resolve(ready);
    let build = this.#inFlight.get(name);
    if (!build) {
      build = this.#build(name).finally(() => this.#inFlight.delete(name));
      this.#inFlight.set(name, build);
    }
    return build;
  }

  async #build(name: BuiltinImage): Promise<string> {
    const work = newId("bld");
    const layer = newId("img");
    const started = Date.now();
    const recipe = this.#builder.recipe?.(name) ?? null;
    // An out-of-date image's layer: removed once its successor is built (forks of it are
    // independent copies); until then its record keeps it owned.
    const previous = this.#repo.get(name)?.layerId ?? null;
    this.#repo.upsert({
      name,
      recipe,
      layerId: previous,
      status: "building",
      phase: "starting",
      failureReason: null,
      sizeBytes: null,
      builtAt: null,
    });
    this.#log.info({ image: name }, `Building image ${name}`);
    try {
      await this.#driver.create(work);
      await this.#builder.build(name, this.#driver.writablePath(work), {
        onPhase: (phase) => {
          this.#repo.setPhase(name, phase);
          this.#log.info({ image: name, phase }, `Building image ${name}: ${phase}`);
        },
        signal: this.#abort.signal,
      });
      await this.#driver.snapshot(work, layer);
      await this.#driver.remove(work);
      const size = await sizeOf(this.#driver, layer);
      this.#repo.upsert({
        name,
        recipe,
        layerId: layer,
        status: "ready",
        phase: null,
        failureReason: null,
        sizeBytes: size,
        builtAt: new Date(),
      });
      this.#log.info(
        { image: name, ms: Date.now() - started, sizeBytes: size, recipe },
        `Built image ${name}`,
      );
      if (previous)
        await this.#driver
          .remove(previous)
          .catch((err: unknown) =>
            this.#log.warn(
              { image: name, layer: previous, err },
              "Could not remove an out-of-date image layer",
            ),
          );
      return layer;
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      await this.#driver.remove(work).catch(() => {});
      await this.#driver.remove(layer).catch(() => {});
      this.#repo.upsert({
        name,
        recipe,
        layerId: previous,
        status: "failed",
        phase: null,
        failureReason: reason,
        sizeBytes: null,
        builtAt: null,
      });
      this.#log.error({ image: name, err: reason }, `Building image ${name} failed`);
      throw new StrataError("image_build_failed", `Cannot build image ${q(name)}: ${reason}`, {
        cause: err,
      });
    }
  }

  /** Stops builds in progress and waits for them to clean up (shutdown). */
  async close(): Promise<void> {
    this.#abort.abort();
    await Promise.allSettled([...this.#inFlight.values()]);
  }
}
