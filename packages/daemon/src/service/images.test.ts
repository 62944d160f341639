import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import type { BuiltinImage } from "@strata/api";
import { openDatabase } from "../db/database.ts";
import { ImagesRepo } from "../db/images-repo.ts";
import { StrataError } from "../errors.ts";
import type { Logger } from "../lib/logger.ts";
import { BtrfsDriver } from "../storage/btrfs/driver.ts";
import { canUseBtrfs, tempPool } from "../testing/btrfs-fixture.ts";
import { type ImageBuilder, ImageService } from "./images.ts";

const quiet: Logger = { info() {}, warn() {}, error() {} };

/** A builder that fails its first `failures` builds, and counts how often it ran. */
class ScriptedBuilder implements ImageBuilder {
  builds = 0;
  failures: number;
  #gate: Promise<void>;
  release!: () => void;
  /** Resolves when a build has started and reported its first phase. */
  started: Promise<void>;
  #markStarted!: () => void;
  constructor(failures: number) {
    this.failures = failures;
    this.#gate = new Promise((r) => {
      this.release = r;
    });
    this.started = new Promise((r) => {
      this.#markStarted = r;
    });
  }
  async build(
    _name: BuiltinImage,
    target: string,
    { onPhase }: { onPhase: (phase: string) => void },
  ): Promise<void> {
    this.builds++;
    onPhase("downloading");
    this.#markStarted();
    await this.#gate;
    if (this.failures-- > 0) throw new Error("mirror unreachable");
    await writeFile(join(target, "os-release"), "trixie");
  }
}

test("ImageService builds once for concurrent first uses, reports failure, and retries on the next use", {
  skip: !canUseBtrfs && "needs root and btrfs",
}, async () => {
  await using pool = await tempPool();
  const driver = await BtrfsDriver.open(pool.root);
  const db = openDatabase(":memory:");
  const builder = new ScriptedBuilder(1);
  const images = new ImageService({ repo: new ImagesRepo(db), driver, builder, log: quiet });

  assert.equal(images.get("builtin:debian-13").status, "absent");
  const first = [images.ensure("builtin:debian-13"), images.ensure("builtin:debian-13")];
  await builder.started;
  assert.deepEqual(
    { ...images.get("builtin:debian-13") },
    {
      name: "builtin:debian-13",
      status: "building",
      phase: "downloading",
      failureReason: null,
      sizeBytes: null,
      builtAt: null,
    },
  );
  builder.release();
  for (const p of first)
    await assert.rejects(
      p,
      (e: unknown) =>
        e instanceof StrataError &&
        e.code === "image_build_failed" &&
        /mirror unreachable/.test(e.message),
    );
  assert.equal(builder.builds, 1);
  const failed = images.get("builtin:debian-13");
  assert.equal(failed.status, "failed");
  assert.match(failed.failureReason ?? "", /mirror unreachable/);
  assert.deepEqual(await driver.list(), [], "a failed build leaves no layer behind");

  const layer = await images.ensure("builtin:debian-13");
  assert.equal(builder.builds, 2);
  assert.equal(images.get("builtin:debian-13").status, "ready");
  assert.equal(await readFile(join(pool.root, "readonly", layer, "os-release"), "utf8"), "trixie");
  assert.equal(await images.ensure("builtin:debian-13"), layer);
  assert.equal(builder.builds, 2, "a ready image is not rebuilt");
  db.close();
});

/** A builder whose recipe (what its images contain) can change, as a new daemon's does. */
class VersionedBuilder implements ImageBuilder {
  version = "v1";
  builds = 0;
  recipe(name: BuiltinImage): string {
    return `${name} ${this.version}`;
  }
  async build(_name: BuiltinImage, target: string): Promise<void> {
    this.builds++;
    await writeFile(join(target, "recipe"), this.version);
  }
}

test("ImageService builds an image again when it was built from another recipe, and removes the old layer", {
  skip: !canUseBtrfs && "needs root and btrfs",
}, async () => {
  await using pool = await tempPool();
  const driver = await BtrfsDriver.open(pool.root);
  const db = openDatabase(":memory:");
  const repo = new ImagesRepo(db);
  const builder = new VersionedBuilder();
  const images = new ImageService({ repo, driver, builder, log: quiet });
  const old = await images.ensure("builtin:debian-13");
  assert.equal(await images.ensure("builtin:debian-13"), old);
  assert.equal(builder.builds, 1);

  builder.version = "v2"; // the daemon was upgraded
  assert.equal(images.get("builtin:debian-13").status, "absent", "an out-of-date build");
  assert.equal(images.readyLayer("builtin:debian-13"), undefined);
  const layer = await images.ensure("builtin:debian-13");
  assert.notEqual(layer, old);
  assert.equal(builder.builds, 2);
  assert.equal(await readFile(join(pool.root, "readonly", layer, "recipe"), "utf8"), "v2");
  assert.equal(images.get("builtin:debian-13").status, "ready");
  assert.equal(repo.get("builtin:debian-13")?.recipe, "builtin:debian-13 v2");
  assert.deepEqual(
    (await driver.list()).map((l) => l.id),
    [layer],
    "the out-of-date layer is gone",
  );

  // A record from before recipes were kept (NULL) is out of date too.
  db.prepare("UPDATE images SET recipe = NULL").run();
  assert.equal(images.readyLayer("builtin:debian-13"), undefined);
  db.close();
});
