import type { Image } from "@strata/api";
import { seg, type Transport } from "./transport.ts";

/** `client.images`: the builtin base images and the state of their one-time build. */
export class Images {
  readonly #t: Transport;

  /** @internal Use `client.images`. */
  constructor(transport: Transport) {
    this.#t = transport;
  }

  /**
   * Lists every builtin image with its build status (`absent`, `building`, `ready`, `failed`).
   *
   * @example
   * ```ts
   * for (const image of await client.images.list()) console.log(image.name, image.status);
   * ```
   */
  list(options: { signal?: AbortSignal } = {}): Promise<Image[]> {
    return this.#t.json<Image[]>("GET", "/images", { signal: options.signal });
  }

  /**
   * Gets a builtin image's build status by name; `null` when there is no such image.
   *
   * @example
   * ```ts
   * const image = await client.images.get("builtin:debian-13");
   * if (image?.status === "building") console.log(image.phase);
   * ```
   */
  get(name: string, options: { signal?: AbortSignal } = {}): Promise<Image | null> {
    return this.#t.getOrNull<Image>(`/images/${seg(name)}`, options.signal);
  }
}
