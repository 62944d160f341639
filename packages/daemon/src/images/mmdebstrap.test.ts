import assert from "node:assert/strict";
import { test } from "node:test";
import {
  BASE_PACKAGES,
  MmdebstrapBuilder,
  mmdebstrapArgv,
  mmdebstrapRecipe,
} from "./mmdebstrap.ts";

const MIRROR = "http://mirror.example.org/debian";

test("mmdebstrapArgv() builds a trixie minbase with sudo, bash and ca-certificates into the target", () => {
  assert.deepEqual(mmdebstrapArgv("builtin:debian-13", "/pool/tmp/bld_1", MIRROR), [
    "mmdebstrap",
    "--variant=minbase",
    "--mode=root",
    "--format=directory",
    "--include=bash,ca-certificates,sudo",
    "trixie",
    "/pool/tmp/bld_1",
    MIRROR,
  ]);
  assert.deepEqual([...BASE_PACKAGES], [...BASE_PACKAGES].sort(), "sorted: one argv per list");
});

test("mmdebstrapRecipe() names what decides the image's content, not where it is built from", () => {
  const recipe = mmdebstrapRecipe("builtin:debian-13", 100_000);
  assert.equal(
    recipe,
    "mmdebstrap --variant=minbase --mode=root --format=directory --include=bash,ca-certificates,sudo trixie; ids +100000; revision 1",
  );
  assert.notEqual(mmdebstrapRecipe("builtin:debian-13", 200_000), recipe, "another id shift");
  const builder = new MmdebstrapBuilder({ mirror: MIRROR, idOffset: 100_000 });
  const elsewhere = new MmdebstrapBuilder({
    mirror: "http://other.example.com/debian",
    idOffset: 100_000,
  });
  assert.equal(builder.recipe("builtin:debian-13"), recipe);
  assert.equal(elsewhere.recipe("builtin:debian-13"), recipe, "any mirror serves the same suite");
});
