import type { BuiltinImage } from "@strata/api";
import { run } from "../lib/exec.ts";
import { shiftIds } from "../lib/shift-ids.ts";

/** Debian suite for each builtin image. */
const SUITES: Record<BuiltinImage, string> = {
  "builtin:debian-13": "trixie",
};

/**
 * Packages added to minbase: `sudo`, because code written for hosted sandboxes (Deno
 * Sandbox's tutorials, `sh\`...\`.sudo()`) runs `sudo apt-get ...`; the sandbox user is
 * root already, so it only has to exist.
 */
const EXTRA_PACKAGES = ["sudo"];

/** Pure: the mmdebstrap argv that builds `image` into the empty folder `target`. */
export function mmdebstrapArgv(image: BuiltinImage, target: string, mirror: string): string[] {
  return [
    "mmdebstrap",
    "--variant=minbase",
    `--include=${EXTRA_PACKAGES.join(",")}`,
    "--mode=root",
    "--format=directory",
    SUITES[image],
    target,
    mirror,
  ];
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
