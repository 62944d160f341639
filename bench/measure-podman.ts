import { join } from "node:path";
import type { Plan } from "./cases.ts";
import { run, syncAll, timed, writeRandomFiles } from "./host.ts";
import type { Context } from "./measure-strata.ts";
import type { PodmanScratch } from "./podman.ts";

export interface PodmanTimings {
  /** Milliseconds of each `podman commit` of the container holding the data. */
  commitMs: number[];
  /** Milliseconds of each `podman create` from the committed image. */
  createMs: number[];
  /** Size podman reports for the committed image (base included). */
  imageBytes: number;
}

/**
 * The same snapshot and fork the way one would do them with podman alone: a container from
 * the base image gets the same data in its writable layer, then `podman commit` makes an
 * image of it (the snapshot) and `podman create` starts a container from that (the fork).
 * The data is synced before timing, as for stratad.
 */
export async function measurePodman(
  scratch: PodmanScratch,
  plan: Plan,
  ctx: Context,
): Promise<Map<string, PodmanTimings>> {
  const results = new Map<string, PodmanTimings>();
  for (const c of plan.cases) {
    ctx.signal.throwIfAborted();
    const { container, root } = await scratch.createMounted(c.key, ctx.signal);
    ctx.log(`podman: writing ${c.label} into container ${container}`);
    await writeRandomFiles(join(root, "data"), {
      totalBytes: c.bytes,
      fileBytes: c.fileBytes,
      signal: ctx.signal,
    });
    await scratch.unmount(container);
    await syncAll(ctx.signal);

    const reps = plan.podmanCommitReps(c);
    ctx.log(`podman: ${reps} × podman commit of ${c.label}`);
    const res: PodmanTimings = { commitMs: [], createMs: [], imageBytes: 0 };
    let image = "";
    for (let r = 0; r < reps; r++) {
      if (image) await scratch.removeImage(image);
      // Each commit writes a full copy of the data; flush it so the next one starts even.
      await syncAll(ctx.signal);
      const t = await timed(() => scratch.commit(container, `${c.key}-${r}`, ctx.signal));
      res.commitMs.push(t.ms);
      image = t.value;
    }
    res.imageBytes = Number(
      (await run(["podman", "image", "inspect", "--format", "{{.Size}}", image])).trim(),
    );
    await syncAll(ctx.signal);
    for (let r = 0; r < plan.podmanCreateReps; r++) {
      const t = await timed(() => scratch.createFrom(image, `${c.key}-fork-${r}`, ctx.signal));
      res.createMs.push(t.ms);
      await scratch.removeContainer(t.value);
    }
    await scratch.removeImage(image);
    await scratch.removeContainer(container);
    results.set(c.key, res);
  }
  return results;
}
