import {
  ErrorBody,
  IdOrSlugParams,
  Snapshot,
  SnapshotListQuery,
  SnapshotUpdate,
} from "@strata/api";
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { HttpServices } from "../http-services.ts";
import { sendPage } from "../pagination.ts";

const errors = { 400: ErrorBody, 401: ErrorBody, 404: ErrorBody, 409: ErrorBody };

export async function snapshotRoutes(app: FastifyInstance, s: HttpServices): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.get(
    "/snapshots",
    {
      schema: {
        summary:
          "List snapshots of volumes and of sandboxes (filter by kind or sandbox; next page in the Link header)",
        tags: ["snapshots"],
        querystring: SnapshotListQuery,
        response: { 200: z.array(Snapshot), ...errors },
      },
    },
    async (req, reply) => sendPage(req, reply, await s.snapshots.list(req.orgId, req.query)),
  );
  r.get(
    "/snapshots/:idOrSlug",
    {
      schema: {
        summary: "Get a snapshot by id or slug",
        tags: ["snapshots"],
        params: IdOrSlugParams,
        response: { 200: Snapshot, ...errors },
      },
    },
    async (req) => s.snapshots.get(req.orgId, req.params.idOrSlug),
  );
  r.patch(
    "/snapshots/:idOrSlug",
    {
      schema: {
        summary: "Protect or unprotect a snapshot, or change its expiry",
        tags: ["snapshots"],
        params: IdOrSlugParams,
        body: SnapshotUpdate,
        response: { 200: Snapshot, ...errors },
      },
    },
    async (req) => s.snapshots.update(req.orgId, req.params.idOrSlug, req.body),
  );
  r.delete(
    "/snapshots/:idOrSlug",
    {
      schema: {
        summary:
          "Delete a snapshot for good (refused while protected); volumes and sandboxes made from it keep working",
        tags: ["snapshots"],
        params: IdOrSlugParams,
        response: { 204: z.null(), ...errors },
      },
    },
    async (req, reply) => {
      await s.snapshots.delete(req.orgId, req.params.idOrSlug);
      return reply.status(204).send(null);
    },
  );
}
