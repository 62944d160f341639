import { join } from "node:path";
import { defaultDebianMirror } from "../packages/daemon/src/config.ts";
import { hasCommand, run } from "./host.ts";

/** The base image every podman case starts from; kept between runs as a cache. */
export const BASE_IMAGE = "localhost/strata-bench-base";

/**
 * Makes sure {@link BASE_IMAGE} exists: a Debian 12 minbase root filesystem built with
 * mmdebstrap from the mirror stratad uses ({@link defaultDebianMirror}) and imported, since
 * this host has no registry access. Returns a sentence saying why podman cannot be
 * measured, or `null` when it can.
 */
export async function preparePodman(options: {
  workDir: string;
  log: (msg: string) => void;
  signal?: AbortSignal;
}): Promise<string | null> {
  if (!(await hasCommand("podman")))
    return "podman is not installed (bash scripts/bootstrap.sh bench installs it)";
  const exists = await run(["podman", "image", "exists", BASE_IMAGE]).then(
    () => true,
    () => false,
  );
  if (exists) return null;
  if (!(await hasCommand("mmdebstrap")))
    return `image ${BASE_IMAGE} is missing and mmdebstrap, which builds it, is not installed`;
  const mirror = defaultDebianMirror(process.env);
  if (!mirror)
    return `image ${BASE_IMAGE} is missing and no Debian mirror builds it: the host's apt sources name none and STRATA_DEBIAN_MIRROR is unset`;
  options.log(`Building ${BASE_IMAGE} (Debian 12 minbase with mmdebstrap, about 30 s, once)`);
  const tar = join(options.workDir, "base.tar");
  try {
    await run(
      ["mmdebstrap", "--variant=minbase", "--mode=root", "--format=tar", "bookworm", tar, mirror],
      options.signal,
    );
    await run(["podman", "import", "--quiet", tar, BASE_IMAGE], options.signal);
  } catch (err) {
    return `could not build ${BASE_IMAGE}: ${err instanceof Error ? err.message : String(err)}`;
  }
  return null;
}

/**
 * Containers and images this run made, by name, so that cleanup removes exactly those.
 * Names carry the benchmark's pid: `strata-bench-<pid>-<case>`.
 */
export class PodmanScratch {
  readonly #prefix: string;
  readonly #containers = new Set<string>();
  readonly #images = new Set<string>();

  constructor(prefix: string) {
    this.#prefix = prefix;
  }

  /**
   * Creates a stopped container from the base image and returns its merged root filesystem,
   * mounted on the host: files written there land in the container's writable layer exactly as
   * if a process inside had written them. (Running a process is not an option on this host:
   * crun refuses hybrid cgroups with hugetlb only in the v2 hierarchy.)
   */
  async createMounted(
    name: string,
    signal?: AbortSignal,
  ): Promise<{ container: string; root: string }> {
    const container = `${this.#prefix}-${name}`;
    this.#containers.add(container);
    await run(
      ["podman", "create", "--quiet", "--name", container, "--network", "none", BASE_IMAGE, "true"],
      signal,
    );
    const root = (await run(["podman", "mount", container], signal)).trim();
    return { container, root };
  }

  async unmount(container: string): Promise<void> {
    await run(["podman", "unmount", container]);
  }

  /** `podman commit` of a container into a new image; returns the image's name. */
  async commit(container: string, tag: string, signal?: AbortSignal): Promise<string> {
    const image = `localhost/${this.#prefix}-${tag}`;
    this.#images.add(image);
    await run(["podman", "commit", "--quiet", container, image], signal);
    return image;
  }

  /** `podman create` of a container from an image (the podman counterpart of a fork). */
  async createFrom(image: string, name: string, signal?: AbortSignal): Promise<string> {
    const container = `${this.#prefix}-${name}`;
    this.#containers.add(container);
    await run(
      ["podman", "create", "--quiet", "--name", container, "--network", "none", image, "true"],
      signal,
    );
    return container;
  }

  /** `podman import` of a root filesystem tarball as an image of this run; returns its name. */
  async importImage(tar: string, tag: string, signal?: AbortSignal): Promise<string> {
    const image = `localhost/${this.#prefix}-${tag}`;
    this.#images.add(image);
    await run(["podman", "import", "--quiet", tar, image], signal);
    return image;
  }

  /**
   * `podman run --rm` of a command in a new container of this run, named
   * `<prefix>-<name>`; resolves with its stdout. `--rm` removes the container when it
   * exits; cleanup removes it if it did not.
   */
  async runRm(
    image: string,
    name: string,
    options: { flags: readonly string[]; argv: readonly string[]; signal?: AbortSignal },
  ): Promise<string> {
    const container = `${this.#prefix}-${name}`;
    this.#containers.add(container);
    const out = await run(
      ["podman", "run", "--rm", "--name", container, ...options.flags, image, ...options.argv],
      options.signal,
    );
    this.#containers.delete(container);
    return out;
  }

  async removeContainer(container: string): Promise<void> {
    await run(["podman", "rm", "--force", "--ignore", container]);
    this.#containers.delete(container);
  }

  async removeImage(image: string): Promise<void> {
    await run(["podman", "rmi", "--ignore", image]);
    this.#images.delete(image);
  }

  /** Removes every container, then every image, this run made; returns what could not be removed. */
  async cleanup(): Promise<string[]> {
    const failures: string[] = [];
    for (const c of [...this.#containers]) {
      await this.removeContainer(c).catch((e: unknown) =>
        failures.push(`container ${c}: ${String(e)}`),
      );
    }
    for (const i of [...this.#images]) {
      await this.removeImage(i).catch((e: unknown) => failures.push(`image ${i}: ${String(e)}`));
    }
    return failures;
  }
}
