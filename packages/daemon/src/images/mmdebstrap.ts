import type { BuiltinImage } from "@strata/api";
import { run } from "../lib/exec.ts";
import { shiftIds } from "../lib/shift-ids.ts";

/** Debian suite for each builtin image. */
const SUITES: Record<BuiltinImage, string> = {
  "builtin:debian-13": "trixie",
};

/**
 * Packages added to the minbase system: what a user expects of a Debian base. `sudo`
 * because tutorials run `sudo apt-get …` (root inside may use it); `ca-certificates` for
 * https (and the system trust store the sandbox adds the host's CAs to); `bash` is
 * essential already, listed so that the image promises it. Sorted, for a stable argv.
 */
export const BASE_PACKAGES = ["bash", "ca-certificates", "sudo"] as const;

/**
 * Bumped when the build changes in a way its argv does not show (the id shift, say), so
 * that images built by an older daemon are rebuilt.
 */
const BUILD_REVISION = 1;

/** Pure: the mmdebstrap argv that builds `image` into the empty folder `target`. */
export function mmdebstrapArgv(image: BuiltinImage, target: string, mirror: string): string[] {
  return [
    "mmdebstrap",
    "--variant=minbase",
    "--mode=root",
    "--format=directory",
    `--include=${BASE_PACKAGES.join(",")}`,
    SUITES[image],
    target,
    mirror,
  ];
}

/**
 * Pure: what decides the content of `image` as built with `idOffset`: its argv without
 * the target folder and the mirror (any mirror serves the same suite), the id shift and
 * the build revision. An image recorded with another recipe is out of date.
 */
export function mmdebstrapRecipe(image: BuiltinImage, idOffset: number): string {
  const argv = mmdebstrapArgv(image, "TARGET", "MIRROR").filter(
    (a) => a !== "TARGET" && a !== "MIRROR",
  );
  return `${argv.join(" ")}; ids +${idOffset}; revision ${BUILD_REVISION}`;
}

/**
 * Builds builtin images with Debian's mmdebstrap from the configured mirror. Progress is
 * mmdebstrap's own `I: …` lines (downloading, extracting, installing …).
 */
export class MmdebstrapBuilder {
  readonly #mirror: string;
  readonly #idOffset: number;
  /** `idOffset`: added to every file's owner, so the image belongs to the sandboxes' mapped root. */
  constructor(options: { mirror: string; idOffset: number }) {
    this.#mirror = options.mirror;
    this.#idOffset = options.idOffset;
  }

  recipe(name: BuiltinImage): string {
    return mmdebstrapRecipe(name, this.#idOffset);
  }

  async build(
    name: BuiltinImage,
    target: string,
    options: { onPhase: (phase: string) => void; signal: AbortSignal },
  ): Promise<void> {
    // SIGTERM (spawn's default kill signal) lets mmdebstrap unmount what it mounted in the target.
    await run(mmdebstrapArgv(name, target, this.#mirror), {
      signal: options.signal,
      onStderrLine: (line) => {
        const m = /^I: (.+?)\.*$/.exec(line);
        if (m) options.onPhase(m[1]!);
      },
    });
    options.onPhase("shifting file ownership to the sandbox user namespace");
    await shiftIds(target, this.#idOffset);
  }
}
