import assert from "node:assert/strict";
import { access, readFile, stat, writeFile } from "node:fs/promises";
import { constants } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Snapshot, Volume } from "@strata/api";
import { isRoot, TestDaemon, waitFor } from "./harness.ts";

const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  );

describe("volumes and snapshots against a real stratad", { skip: !isRoot && "needs root" }, () => {
  let d: TestDaemon;
  before(async () => {
    d = await TestDaemon.start(["--purge-grace", "2s", "--purge-interval", "500ms"]);
  });
  after(async () => {
    await d?.[Symbol.asyncDispose]();
  });

  const create = async (slug: string, extra: Record<string, unknown> = {}) => {
    const r = await d.api<Volume>("POST", "/v1/volumes", {
      slug,
      region: "local",
      capacity: "1GB",
      ...extra,
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body;
  };

  test("GET /v1/health answers without a token; everything else needs one", async () => {
    const health = await d.api("GET", "/v1/health", undefined, null);
    assert.equal(health.status, 200);
    assert.deepEqual(health.body, { status: "ok", version: "0.1.0", region: "local" });
    for (const token of [null, "stk_wrong", ""]) {
      const r = await d.api<{ code: string }>("GET", "/v1/volumes", undefined, token);
      assert.equal(r.status, 401);
      assert.equal(r.body.code, "unauthenticated");
    }
  });

  test("the admin token file is mode 0600 and stored only hashed in the database", async () => {
    const s = await stat(join(d.dataDir, "admin.token"));
    assert.equal(s.mode & 0o777, 0o600);
    const db = await readFile(join(d.dataDir, "strata.db"));
    assert.equal(db.includes(Buffer.from(d.token)), false);
  });

  test("POST /v1/volumes makes a btrfs subvolume with the capacity as its qgroup limit", async () => {
    const v = await create("cap-test", { capacity: "300MB" });
    assert.equal(v.status, "ready");
    assert.equal(v.capacity, 300_000_000);
    assert.equal(v.bootable, false);
    assert.equal(v.base, null);
    const dir = join(d.poolRoot, "writable", v.id);
    assert.ok(await exists(dir));
    // Filling past the capacity fails with a disk-quota error, and only this volume is affected.
    const big = Buffer.alloc(64 * 1024 * 1024, 1);
    let written = 0;
    await assert.rejects(
      (async () => {
        for (let i = 0; i < 8; i++) {
          await writeFile(join(dir, `f${i}`), big);
          written++;
        }
      })(),
      { errno: -constants.errno.EDQUOT },
    );
    assert.ok(written >= 3 && written < 5, `wrote ${written} × 64 MiB before EDQUOT`);
    const other = await create("cap-other");
    await writeFile(join(d.poolRoot, "writable", other.id, "f"), big);
    const got = await d.api<Volume>("GET", `/v1/volumes/${v.id}`);
    assert.ok(
      got.body.estimatedFlattenedSize > 200_000_000,
      `flattened ${got.body.estimatedFlattenedSize}`,
    );
    assert.equal(
      got.body.usedBytes,
      got.body.estimatedFlattenedSize,
      "used bytes are what counts against the capacity",
    );
    assert.ok(got.body.estimatedFlattenedSize <= 300_000_000 + 4096 * 64);
  });

  test("a snapshot keeps its instant; forks are independent and outlive the snapshot", async () => {
    const v = await create("snap-src");
    const vdir = join(d.poolRoot, "writable", v.id);
    await writeFile(join(vdir, "banner.txt"), "before");
    const s = await d.api<Snapshot>("POST", `/v1/volumes/${v.slug}/snapshots`, {
      slug: "snap-src-1",
    });
    assert.equal(s.status, 201);
    assert.equal(s.body.volume?.id, v.id);
    assert.equal(s.body.status, "ready");
    await writeFile(join(vdir, "banner.txt"), "after");
    const sdir = join(d.poolRoot, "readonly", s.body.id);
    assert.equal(await readFile(join(sdir, "banner.txt"), "utf8"), "before");
    await assert.rejects(writeFile(join(sdir, "banner.txt"), "x"), { code: "EROFS" });

    const fork = await create("snap-fork", { from: "snap-src-1" });
    assert.deepEqual(fork.base, {
      kind: "snapshot",
      snapshot: { id: s.body.id, slug: "snap-src-1" },
    });
    const fdir = join(d.poolRoot, "writable", fork.id);
    assert.equal(await readFile(join(fdir, "banner.txt"), "utf8"), "before");
    await writeFile(join(fdir, "banner.txt"), "fork");
    assert.equal(await readFile(join(sdir, "banner.txt"), "utf8"), "before");

    assert.equal((await d.api("DELETE", `/v1/snapshots/${s.body.id}`)).status, 204);
    assert.equal(await exists(sdir), false);
    assert.equal(await readFile(join(fdir, "banner.txt"), "utf8"), "fork");
    assert.equal((await d.api("GET", "/v1/snapshots/snap-src-1")).status, 404);
    assert.equal((await d.api("DELETE", "/v1/snapshots/snap-src-1")).status, 404);
  });

  test("snapshot sizes come from qgroups: flattened is the content, allocated the part counted to it", async () => {
    const MiB = 1024 * 1024;
    const v = await create("sizes");
    await writeFile(join(d.poolRoot, "writable", v.id, "data"), Buffer.alloc(32 * MiB, 3));
    const s = (await d.api<Snapshot>("POST", `/v1/volumes/${v.id}/snapshots`, { slug: "sizes-1" }))
      .body;
    assert.ok(s.flattenedSize >= 32 * MiB, `flattened ${s.flattenedSize}`);
    assert.ok(
      s.allocatedSize < MiB,
      `a fresh snapshot shares its data, allocated ${s.allocatedSize}`,
    );
    const fork = await d.api<Volume>("POST", "/v1/volumes", {
      slug: "sizes-fork",
      region: "local",
      capacity: "1GB",
      from: "sizes-1",
    });
    assert.ok(fork.body.estimatedFlattenedSize >= 32 * MiB, "a fork counts what it inherited");
    // Rewriting the data keeps both versions on disk: the allocated sizes of the volume and
    // its snapshot cover both (simple quotas count the old version to the volume that wrote
    // it, full quotas to the snapshot that alone holds it now).
    await writeFile(join(d.poolRoot, "writable", v.id, "data"), Buffer.alloc(32 * MiB, 4));
    const later = (await d.api<Snapshot>("GET", "/v1/snapshots/sizes-1")).body;
    const vol = (await d.api<Volume>("GET", `/v1/volumes/${v.id}`)).body;
    assert.ok(
      later.allocatedSize + vol.estimatedAllocatedSize >= 64 * MiB,
      `after the volume changed, allocated ${later.allocatedSize} + ${vol.estimatedAllocatedSize}`,
    );
    assert.equal(later.flattenedSize, s.flattenedSize, "a snapshot's content never changes");
  });

  test("lists paginate with an absolute Link header and filter by search", async () => {
    for (const n of [1, 2, 3]) await create(`page-${n}`);
    const seen: string[] = [];
    let url: string | null = "/v1/volumes?limit=2&search=page-";
    while (url) {
      const r: Awaited<ReturnType<typeof d.api<Volume[]>>> = await d.api<Volume[]>("GET", url);
      assert.equal(r.status, 200);
      seen.push(...r.body.map((v) => v.slug));
      const link = r.headers.get("link");
      if (link) {
        const m = /^<(http:\/\/[^>]+)>; rel="next"$/.exec(link);
        assert.ok(m, link);
        assert.match(m[1]!, /limit=2/);
        url = m[1]!;
      } else url = null;
    }
    assert.deepEqual(seen, ["page-1", "page-2", "page-3"]);
    const bad = await d.api<{ code: string }>("GET", "/v1/volumes?limit=0");
    assert.equal(bad.status, 400);
    assert.equal(bad.body.code, "invalid_request");
  });

  test("bad input gets a 4xx with a stable code naming the value, and creates nothing", async () => {
    await create("taken");
    const before = await d.api<Volume[]>("GET", "/v1/volumes?limit=200");
    const cases: [unknown, number, string, RegExp?][] = [
      [{ slug: "taken", region: "local", capacity: "1GB" }, 409, "slug_taken", /"taken"/],
      [{ slug: "Bad_Slug", region: "local", capacity: "1GB" }, 400, "invalid_slug", /"Bad_Slug"/],
      [{ slug: "ab--cd", region: "local", capacity: "1GB" }, 400, "invalid_slug"],
      [{ slug: "okay", region: "mars", capacity: "1GB" }, 400, "invalid_region", /"mars".*"local"/],
      [{ slug: "okay", region: "local", capacity: "100MB" }, 400, "invalid_capacity", /"100MB"/],
      [{ slug: "okay", region: "local", capacity: "21GB" }, 400, "invalid_capacity"],
      [{ slug: "okay", region: "local", capacity: "lots" }, 400, "invalid_capacity"],
      [
        { slug: "okay", region: "local", capacity: "1GB", from: "builtin:windows" },
        400,
        "invalid_source",
        /builtin:windows/,
      ],
      [
        { slug: "okay", region: "local", capacity: "1GB", from: "no-such-snap" },
        404,
        "snapshot_not_found",
        /"no-such-snap"/,
      ],
      [{ slug: 42, region: "local", capacity: "1GB" }, 400, "invalid_request", /slug/],
      [
        { slug: "okay", region: "local", capacity: "1GB", colour: "red" },
        400,
        "invalid_request",
        /colour/,
      ],
      [[], 400, "invalid_request"],
      ["not json at all", 400, "invalid_request"],
    ];
    for (const [body, status, code, message] of cases) {
      const r = await d.api<{ code: string; message: string }>("POST", "/v1/volumes", body);
      assert.equal(r.status, status, JSON.stringify(body));
      assert.equal(r.body.code, code, JSON.stringify(body));
      if (message) assert.match(r.body.message, message);
    }
    const raw = await fetch(new URL("/v1/volumes", d.url), {
      method: "POST",
      headers: { authorization: `Bearer ${d.token}`, "content-type": "application/json" },
      body: "{oops",
    });
    assert.equal(raw.status, 400);
    const huge = await d.api<{ code: string }>("POST", "/v1/volumes", {
      slug: "x".repeat(2_000_000),
      region: "local",
      capacity: 1,
    });
    assert.equal(huge.status, 413);
    assert.equal(huge.body.code, "payload_too_large");
    const after = await d.api<Volume[]>("GET", "/v1/volumes?limit=200");
    assert.deepEqual(
      after.body.map((v) => v.id),
      before.body.map((v) => v.id),
    );
    assert.equal((await d.api("GET", "/v1/health")).status, 200);
  });

  test("volume and snapshot slugs share one namespace", async () => {
    const v = await create("shared-ns");
    const r = await d.api<{ code: string }>("POST", `/v1/volumes/${v.id}/snapshots`, {
      slug: "shared-ns",
    });
    assert.equal(r.status, 409);
    assert.equal(r.body.code, "slug_taken");
    await d.api("POST", `/v1/volumes/${v.id}/snapshots`, { slug: "shared-ns-snap" });
    const clash = await d.api<{ code: string }>("POST", "/v1/volumes", {
      slug: "shared-ns-snap",
      region: "local",
      capacity: "1GB",
    });
    assert.equal(clash.body.code, "slug_taken");
  });

  test("a fork needs a capacity at least the snapshot's content", async () => {
    const v = await create("small-fork-src");
    await writeFile(join(d.poolRoot, "writable", v.id, "data"), Buffer.alloc(400 * 1000 * 1000, 1));
    await d.api("POST", `/v1/volumes/${v.id}/snapshots`, { slug: "small-fork-snap" });
    const r = await d.api<{ code: string; message: string }>("POST", "/v1/volumes", {
      slug: "small-fork",
      region: "local",
      capacity: "300MB",
      from: "small-fork-snap",
    });
    assert.equal(r.status, 400);
    assert.equal(r.body.code, "invalid_capacity");
    assert.match(r.body.message, /small-fork-snap/);
  });

  test("DELETE frees the slug at once, hides the data, and purges it after the grace period", async () => {
    const v = await create("doomed");
    await writeFile(join(d.poolRoot, "writable", v.id, "secret"), "s");
    // Some clients label even a bodiless DELETE as JSON; an empty body is no body.
    const del = await fetch(new URL("/v1/volumes/doomed", d.url), {
      method: "DELETE",
      headers: { authorization: `Bearer ${d.token}`, "content-type": "application/json" },
    });
    assert.equal(del.status, 204);
    assert.equal((await d.api("GET", `/v1/volumes/${v.id}`)).status, 404);
    assert.equal(
      (await d.api("POST", `/v1/volumes/${v.id}/snapshots`, { slug: "doomed-snap" })).status,
      404,
    );
    const listed = await d.api<Volume[]>("GET", "/v1/volumes?search=doomed");
    assert.deepEqual(listed.body, []);
    assert.equal(await exists(join(d.poolRoot, "writable", v.id)), false);
    assert.equal(await readFile(join(d.poolRoot, "trash", v.id, "secret"), "utf8"), "s");
    const again = await create("doomed");
    assert.notEqual(again.id, v.id);
    await waitFor(
      "the purge",
      async () => ((await exists(join(d.poolRoot, "trash", v.id))) ? undefined : true),
      20_000,
    );
  });

  test("GET /v1/openapi.json documents the API from the validation schemas", async () => {
    const r = await d.api<{
      openapi: string;
      paths: Record<string, Record<string, { requestBody?: unknown }>>;
    }>("GET", "/v1/openapi.json", undefined, null);
    assert.equal(r.status, 200);
    assert.match(r.body.openapi, /^3\./);
    for (const p of [
      "/v1/volumes",
      "/v1/volumes/{idOrSlug}",
      "/v1/volumes/{idOrSlug}/snapshots",
      "/v1/snapshots",
      "/v1/snapshots/{idOrSlug}",
      "/v1/health",
    ]) {
      assert.ok(r.body.paths[p], `documents ${p}`);
    }
    assert.match(JSON.stringify(r.body.paths["/v1/volumes"]?.post?.requestBody), /capacity/);
  });
});
