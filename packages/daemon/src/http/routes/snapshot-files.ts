import {
  DirEntry,
  ErrorBody,
  FileStat,
  IdOrSlugParams,
  SnapshotDiff,
  SnapshotDiffQuery,
  SnapshotFileQuery,
  Volume,
  VolumeRestore,
} from "@strata/api";
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { HttpServices } from "../http-services.ts";

const errors = { 400: ErrorBody, 401: ErrorBody, 404: ErrorBody, 409: ErrorBody, 503: ErrorBody };
const noFollow = z.enum(["true", "false", "1", "0"]).transform((v) => v === "true" || v === "1");

/**
 * Beyond the anchors: roll a volume back to a snapshot, read files inside a snapshot
 * without booting it, and compare a snapshot with a snapshot or volume.
 */
export async function snapshotFileRoutes(app: FastifyInstance, s: HttpServices): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.post(
    "/volumes/:idOrSlug/restore",
    {
      schema: {
        summary:
          "Roll a volume back in place to one of its snapshots (same id, slug and capacity; refused while attached)",
        tags: ["volumes"],
        params: IdOrSlugParams,
        body: VolumeRestore,
        response: { 200: Volume, ...errors },
      },
    },
    async (req) => s.volumes.restore(req.orgId, req.params.idOrSlug, req.body),
  );
  r.get(
    "/snapshots/:idOrSlug/files",
    {
      schema: {
        summary: "List a directory inside a snapshot (paths resolve as if the snapshot were /)",
        tags: ["snapshots"],
        params: IdOrSlugParams,
        querystring: SnapshotFileQuery,
        response: { 200: z.array(DirEntry), ...errors },
      },
    },
    async (req) => s.snapshotFiles.readDir(req.orgId, req.params.idOrSlug, req.query.path),
  );
  r.get(
    "/snapshots/:idOrSlug/files/stat",
    {
      schema: {
        summary: "Stat a path inside a snapshot (noFollow: do not follow a final symlink)",
        tags: ["snapshots"],
        params: IdOrSlugParams,
        querystring: SnapshotFileQuery.extend({ noFollow: noFollow.optional() }),
        response: { 200: FileStat, ...errors },
      },
    },
    async (req) =>
      s.snapshotFiles.stat(
        req.orgId,
        req.params.idOrSlug,
        req.query.path,
        req.query.noFollow ?? false,
      ),
  );
  r.get(
    "/snapshots/:idOrSlug/files/content",
    {
      schema: {
        summary: "Read a regular file inside a snapshot (streamed bytes)",
        tags: ["snapshots"],
        params: IdOrSlugParams,
        querystring: SnapshotFileQuery,
      },
    },
    async (req, reply) => {
      const file = await s.snapshotFiles.open(req.orgId, req.params.idOrSlug, req.query.path);
      reply.header("content-type", "application/octet-stream");
      reply.header("content-length", String(file.size));
      return reply.send(file.stream);
    },
  );
  r.get(
    "/snapshots/:idOrSlug/diff",
    {
      schema: {
        summary:
          "Paths added, removed and changed from a snapshot to another snapshot or a volume (`to`)",
        tags: ["snapshots"],
        params: IdOrSlugParams,
        querystring: SnapshotDiffQuery,
        response: { 200: SnapshotDiff, ...errors },
      },
    },
    async (req) => s.snapshotDiff.diff(req.orgId, req.params.idOrSlug, req.query),
  );
}
