import { BUILTIN_IMAGES, type BuiltinImage, type Image } from "@strata/api";
import type { ImagesRepo } from "../db/images-repo.ts";
import { q, StrataError } from "../errors.ts";
import { newId } from "../lib/ids.ts";
import type { Logger } from "../lib/logger.ts";
import type { StorageDriver } from "../storage/driver.ts";

/** Fills an empty folder with an image's root filesystem. */
export interface ImageBuilder {
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
  readonly #repo: ImagesRepo;
  readonly #driver: StorageDriver;
  readonly #builder: ImageBuilder;
  readonly #log: Logger;
  readonly #inFlight = new Map<string, Promise<string>>();
  readonly #abort = new AbortController();

  constructor(deps: {
    repo: ImagesRepo;
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
    return {
      name,
      status: row?.status ?? "absent",
      phase: row?.status === "building" ? row.phase : null,
      failureReason: row?.failure_reason ?? null,
      sizeBytes: row?.size_bytes ?? null,
      builtAt: row?.built_at ?? null,
    };
  }

  list(): Image[] {
    return BUILTIN_IMAGES.map((n) => this.get(n));
  }

  /** The layer of a built image, or undefined when it is not built (yet). */
  readyLayer(name: BuiltinImage): string | undefined {
    const row = this.#repo.get(name);
    return row?.status === "ready" && row.layer_id ? row.layer_id : undefined;
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
    this.#repo.upsert({
      name,
      layer_id: null,
      status: "building",
      phase: "starting",
      failure_reason: null,
      size_bytes: null,
      built_at: null,
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
      const size = (await this.#driver.usage([layer])).get(layer)?.referencedBytes ?? null;
      this.#repo.upsert({
        name,
        layer_id: layer,
        status: "ready",
        phase: null,
        failure_reason: null,
        size_bytes: size,
        built_at: new Date().toISOString(),
      });
      this.#log.info(
        { image: name, ms: Date.now() - started, sizeBytes: size },
        `Built image ${name}`,
      );
      return layer;
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      await this.#driver.remove(work).catch(() => {});
      await this.#driver.remove(layer).catch(() => {});
      this.#repo.upsert({
        name,
        layer_id: null,
        status: "failed",
        phase: null,
        failure_reason: reason,
        size_bytes: null,
        built_at: null,
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
