import {
  ErrorBody,
  IdOrSlugParams,
  ListQuery,
  Snapshot,
  SnapshotCreate,
  Volume,
  VolumeCreate,
} from "@strata/api";
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { HttpServices } from "../http-services.ts";
import { sendPage } from "../pagination.ts";

const errors = { 400: ErrorBody, 401: ErrorBody, 404: ErrorBody, 409: ErrorBody, 503: ErrorBody };

export async function volumeRoutes(app: FastifyInstance, s: HttpServices): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.post(
    "/volumes",
    {
      schema: {
        summary:
          "Create a volume (201 when ready; 202 with status creating while its base image is built)",
        tags: ["volumes"],
        body: VolumeCreate,
        response: { 201: Volume, 202: Volume, ...errors },
      },
    },
    async (req, reply) => {
      const volume = await s.volumes.create(req.orgId, req.body);
      return reply.status(volume.status === "ready" ? 201 : 202).send(volume);
    },
  );
  r.get(
    "/volumes",
    {
      schema: {
        summary: "List volumes (next page in the Link header)",
        tags: ["volumes"],
        querystring: ListQuery,
        response: { 200: z.array(Volume), ...errors },
      },
    },
    async (req, reply) => sendPage(req, reply, await s.volumes.list(req.orgId, req.query)),
  );
  r.get(
    "/volumes/:idOrSlug",
    {
      schema: {
        summary: "Get a volume by id or slug",
        tags: ["volumes"],
        params: IdOrSlugParams,
        response: { 200: Volume, ...errors },
      },
    },
    async (req) => s.volumes.get(req.orgId, req.params.idOrSlug),
  );
  r.delete(
    "/volumes/:idOrSlug",
    {
      schema: {
        summary:
          "Delete a volume: gone from listings and its slug free at once, data purged after the grace period",
        tags: ["volumes"],
        params: IdOrSlugParams,
        response: { 204: z.null(), ...errors },
      },
    },
    async (req, reply) => {
      await s.volumes.delete(req.orgId, req.params.idOrSlug);
      return reply.status(204).send(null);
    },
  );
  r.post(
    "/volumes/:idOrSlug/snapshots",
    {
      schema: {
        summary: "Snapshot a volume (read-only, O(1) whatever its size)",
        tags: ["snapshots"],
        params: IdOrSlugParams,
        body: SnapshotCreate,
        response: { 201: Snapshot, ...errors },
      },
    },
    async (req, reply) =>
      reply
        .status(201)
        .send(await s.snapshots.createFromVolume(req.orgId, req.params.idOrSlug, req.body)),
  );
}
