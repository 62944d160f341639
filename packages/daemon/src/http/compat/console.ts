import type { Sandbox, Snapshot, Volume } from "@strata/api";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { q, StrataError } from "../../errors.ts";
import { toDenoId } from "./ids.ts";
import type { Registry } from "./lifecycle.ts";
import type { PageOf, StrataPort } from "./strata.ts";

/**
 * The console API of the official client (`/api/v2`): volumes, snapshots and the sandbox
 * listing, as thin translations onto Strata's services (snake_case JSON, bare arrays with
 * a `Link` header, 404 for a missing resource). Everything else a Deno console offers
 * (apps, layers, revisions, deploy) is refused with `not_supported`.
 */

const Ref = z.string().min(1).max(64);
const ListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional(),
  search: z.string().max(100).optional(),
});
// The client sends its whole options object, token and endpoint included: only these fields count.
const VolumeInit = z.object({
  slug: z.string().max(64),
  region: z.string().max(64),
  capacity: z.union([z.number(), z.string().max(64)]),
  from: z.string().max(64).optional().nullable(),
});
const SnapshotInit = z.object({ slug: z.string().max(64) });

/** A Strata volume as the client's `VolumeJSON`. */
export function volumeJson(v: Volume): Record<string, unknown> {
  return {
    id: v.id,
    slug: v.slug,
    region: v.region,
    capacity: v.capacity,
    estimated_allocated_size: v.estimatedAllocatedSize,
    estimated_flattened_size: v.estimatedFlattenedSize,
    is_bootable: v.bootable,
    base_snapshot: v.base?.kind === "snapshot" ? v.base.snapshot : null,
  };
}

/** A Strata snapshot as the client's `SnapshotJSON`. */
export function snapshotJson(s: Snapshot): Record<string, unknown> {
  return {
    id: s.id,
    slug: s.slug,
    region: s.region,
    allocated_size: s.allocatedSize,
    flattened_size: s.flattenedSize,
    is_bootable: s.bootable,
    volume: s.volume ?? { id: "", slug: "" },
  };
}

/** A Strata sandbox as an entry of the client's sandbox list (camelCase there). */
export function sandboxJson(s: Sandbox, tag: string): Record<string, unknown> {
  return {
    id: toDenoId(s.id, tag),
    createdAt: s.createdAt,
    stoppedAt: s.stoppedAt,
    region: s.region,
    status: s.status === "stopped" || s.status === "stopping" ? "stopped" : "running",
    labels: s.labels,
  };
}

/** `labels[key]=value` query parameters → a label filter. */
export function labelFilter(query: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(query)) {
    const m = /^labels\[(.{1,64})\]$/s.exec(k);
    if (!m) continue;
    if (typeof v !== "string" || v.length > 256)
      throw new StrataError("invalid_labels", `Invalid label filter ${q(k)}: give one value`);
    out[m[1]!] = v;
  }
  if (Object.keys(out).length > 16)
    throw new StrataError("invalid_labels", "At most 16 label filters");
  return out;
}

function sendPage<T>(
  req: FastifyRequest,
  reply: FastifyReply,
  page: PageOf<T>,
  map: (t: T) => unknown,
): unknown[] {
  if (page.nextCursor !== null) {
    const url = new URL(req.url, `${req.protocol}://${req.host}`);
    url.searchParams.set("cursor", page.nextCursor);
    // The client splits the header on "," and ";": the URL must hold neither unescaped.
    reply.header("link", `<${url.href.replaceAll(",", "%2C").replaceAll(";", "%3B")}>; rel="next"`);
  }
  return page.items.map(map);
}

export async function consoleRoutes(
  app: FastifyInstance,
  options: {
    port: StrataPort;
    registry: Registry;
    tag: string;
    org: (req: FastifyRequest) => string;
  },
): Promise<void> {
  const { port, registry, org } = options;
  const ref = (req: FastifyRequest, key = "ref") =>
    Ref.parse((req.params as Record<string, unknown>)[key]);

  /** Retries once a call refused with volume_in_use by a sandbox this layer is still ending. */
  const afterEnding = async <T>(
    volumeRef: string | undefined,
    orgId: string,
    call: () => Promise<T>,
  ): Promise<T> => {
    try {
      return await call();
    } catch (err) {
      if (!(err instanceof StrataError) || err.code !== "volume_in_use" || volumeRef === undefined)
        throw err;
      if (!(await registry.released(orgId, volumeRef))) throw err;
      return call();
    }
  };

  app.post("/api/v2/volumes", async (req, reply) => {
    const body = VolumeInit.parse(req.body);
    const v = await port.createVolume(org(req), { ...body, from: body.from ?? undefined });
    return reply.status(200).send(volumeJson(v));
  });
  app.get("/api/v2/volumes", async (req, reply) =>
    sendPage(req, reply, await port.listVolumes(org(req), ListQuery.parse(req.query)), volumeJson),
  );
  app.get("/api/v2/volumes/:ref", async (req) =>
    volumeJson(await port.getVolume(org(req), ref(req))),
  );
  app.delete("/api/v2/volumes/:ref", async (req, reply) => {
    const orgId = org(req);
    const r = ref(req);
    await afterEnding(r, orgId, () => port.deleteVolume(orgId, r));
    return reply.status(204).send();
  });
  app.post("/api/v2/volumes/:ref/snapshot", async (req) => {
    const orgId = org(req);
    const r = ref(req);
    const { slug } = SnapshotInit.parse(req.body);
    return snapshotJson(await afterEnding(r, orgId, () => port.snapshotVolume(orgId, r, slug)));
  });
  app.get("/api/v2/snapshots", async (req, reply) =>
    sendPage(
      req,
      reply,
      await port.listSnapshots(org(req), ListQuery.parse(req.query)),
      snapshotJson,
    ),
  );
  app.get("/api/v2/snapshots/:ref", async (req) =>
    snapshotJson(await port.getSnapshot(org(req), ref(req))),
  );
  app.delete("/api/v2/snapshots/:ref", async (req, reply) => {
    await port.deleteSnapshot(org(req), ref(req));
    return reply.status(204).send();
  });
  app.get("/api/v2/sandboxes", async (req) => {
    const labels = labelFilter(req.query as Record<string, unknown>);
    return (await port.listSandboxes(org(req), labels)).map((s) => sandboxJson(s, options.tag));
  });
  app.post("/api/v2/sandboxes/:id/deploy", async () => {
    throw new StrataError(
      "not_supported",
      "Strata does not deploy to Deno Deploy: sandbox.deploy() and sandbox.deno.deploy() are not supported",
    );
  });
  for (const what of ["apps", "layers", "revisions"]) {
    app.all(`/api/v2/${what}`, async () => refuseConsole(what));
    app.all(`/api/v2/${what}/*`, async () => refuseConsole(what));
  }
}

function refuseConsole(what: string): never {
  throw new StrataError(
    "not_supported",
    `Strata has no Deno Deploy ${what}: only volumes, snapshots and sandboxes are served`,
  );
}
