import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import type { Image, Volume } from "@strata/api";
import { isRoot, TestDaemon, waitFor } from "./harness.ts";

/**
 * Builds builtin:debian-13 for real with mmdebstrap from Debian's mirror (about 20 s),
 * so it is part of the slow suite.
 */
describe("builtin:debian-13", { skip: !isRoot && "needs root" }, () => {
  test("concurrent first uses share one mmdebstrap build, visible as a status; volumes become bootable forks", async () => {
    await using d = await TestDaemon.start();
    const [a, b] = await Promise.all(
      ["deb-a", "deb-b"].map((slug) =>
        d.api<Volume>("POST", "/v1/volumes", {
          slug,
          region: "local",
          capacity: "2GB",
          from: "builtin:debian-13",
        }),
      ),
    );
    assert.equal(a!.status, 202);
    assert.equal(b!.status, 202);
    assert.equal(a!.body.status, "creating");
    const building = await d.api<Image>("GET", "/v1/images/builtin:debian-13");
    assert.equal(building.body.status, "building");

    const ready = await Promise.all(
      [a!.body.id, b!.body.id].map((id) =>
        waitFor(
          `volume ${id}`,
          async () => {
            const r = await d.api<Volume>("GET", `/v1/volumes/${id}`);
            return r.body.status === "creating" ? undefined : r.body;
          },
          300_000,
        ),
      ),
    );
    for (const v of ready) {
      assert.equal(v.status, "ready", v.failureReason ?? "");
      assert.equal(v.bootable, true);
      assert.deepEqual(v.base, { kind: "image", image: "builtin:debian-13" });
      const version = await readFile(
        join(d.poolRoot, "writable", v.id, "etc/debian_version"),
        "utf8",
      );
      assert.match(version, /^(13|trixie)/);
      assert.ok(
        v.estimatedFlattenedSize > 50_000_000,
        `a minbase system references ${v.estimatedFlattenedSize} bytes`,
      );
      assert.ok(
        v.estimatedAllocatedSize < 5_000_000,
        `but shares it with the image: ${v.estimatedAllocatedSize} exclusive`,
      );
    }
    const builds = d.logs.filter((l) => l.msg === "Building image builtin:debian-13");
    assert.equal(builds.length, 1);
    assert.ok(
      d.logs.some((l) => typeof l.phase === "string"),
      "build phases are logged",
    );
    const image = (await d.api<Image>("GET", "/v1/images/builtin:debian-13")).body;
    assert.equal(image.status, "ready");

    // Later uses are immediate forks of the built image.
    const later = await d.api<Volume>("POST", "/v1/volumes", {
      slug: "deb-c",
      region: "local",
      capacity: "2GB",
      from: "builtin:debian-13",
    });
    assert.equal(later.status, 201);
    assert.equal(later.body.status, "ready");
  });

  test("a failed build is reported with its reason, and the next use tries again", async () => {
    await using d = await TestDaemon.start(["--debian-mirror", "http://127.0.0.1:9/debian"]);
    const first = await d.api<Volume>("POST", "/v1/volumes", {
      slug: "deb-fail",
      region: "local",
      capacity: "2GB",
      from: "builtin:debian-13",
    });
    assert.equal(first.status, 202);
    const failed = await waitFor("the build to fail", async () => {
      const r = await d.api<Volume>("GET", "/v1/volumes/deb-fail");
      return r.body.status === "creating" ? undefined : r.body;
    });
    assert.equal(failed.status, "failed");
    assert.match(failed.failureReason ?? "", /builtin:debian-13.*mmdebstrap/s);
    const image = (await d.api<Image>("GET", "/v1/images/builtin:debian-13")).body;
    assert.equal(image.status, "failed");
    assert.ok(image.failureReason);

    const second = await d.api<Volume>("POST", "/v1/volumes", {
      slug: "deb-fail-2",
      region: "local",
      capacity: "2GB",
      from: "builtin:debian-13",
    });
    assert.equal(second.status, 202, "the failed image is not reused: a new build starts");
    await waitFor("the second build to fail", async () => {
      const r = await d.api<Volume>("GET", "/v1/volumes/deb-fail-2");
      return r.body.status === "creating" ? undefined : r.body;
    });
    assert.equal(d.logs.filter((l) => l.msg === "Building image builtin:debian-13").length, 2);
    assert.equal(
      (await d.api("DELETE", "/v1/volumes/deb-fail")).status,
      204,
      "a failed volume can be deleted",
    );
  });
});
