import { ErrorBody, Event, EventListQuery, Org, OrgUpdate } from "@strata/api";
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { HttpServices } from "../http-services.ts";
import { sendPage } from "../pagination.ts";

const errors = { 400: ErrorBody, 401: ErrorBody, 404: ErrorBody };

/** The calling organisation's settings, and its event log. */
export async function orgRoutes(app: FastifyInstance, s: HttpServices): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.get(
    "/org",
    {
      schema: {
        summary: "The calling organisation and its settings",
        tags: ["org"],
        response: { 200: Org, ...errors },
      },
    },
    async (req) => s.orgs.get(req.orgId),
  );
  r.patch(
    "/org",
    {
      schema: {
        summary: "Change settings: snapshotRetention applies to snapshots taken from now on",
        tags: ["org"],
        body: OrgUpdate,
        response: { 200: Org, ...errors },
      },
    },
    async (req) => s.orgs.update(req.orgId, req.body),
  );
  r.get(
    "/events",
    {
      schema: {
        summary: "Events, oldest first: snapshot ticks, skips, expiries, pauses, stops",
        tags: ["events"],
        querystring: EventListQuery,
        response: { 200: z.array(Event), ...errors },
      },
    },
    async (req, reply) => sendPage(req, reply, s.events.list(req.orgId, req.query)),
  );
}
