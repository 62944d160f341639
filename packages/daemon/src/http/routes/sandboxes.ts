import {
  ErrorBody,
  Event,
  EventListQuery,
  ExecRequest,
  ExecResult,
  ListQuery,
  Sandbox,
  SandboxCreate,
  SandboxExpose,
  SandboxListQuery,
  SandboxParams,
  SandboxSnapshotCreate,
  SandboxUpdate,
  Snapshot,
} from "@strata/api";
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { HttpServices } from "../http-services.ts";
import { sendPage } from "../pagination.ts";

const errors = { 400: ErrorBody, 401: ErrorBody, 404: ErrorBody, 409: ErrorBody, 503: ErrorBody };

export async function sandboxRoutes(app: FastifyInstance, s: HttpServices): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.post(
    "/sandboxes",
    {
      schema: {
        summary: "Create and start a sandbox; answers once commands can run in it",
        tags: ["sandboxes"],
        body: SandboxCreate,
        response: { 201: Sandbox, ...errors },
      },
    },
    async (req, reply) => reply.status(201).send(await s.sandboxes.create(req.orgId, req.body)),
  );
  r.get(
    "/sandboxes",
    {
      schema: {
        summary: "List sandboxes, filtered by status and labels (label=key=value, repeatable)",
        tags: ["sandboxes"],
        querystring: SandboxListQuery,
        response: { 200: z.array(Sandbox), ...errors },
      },
    },
    async (req, reply) => sendPage(req, reply, await s.sandboxes.list(req.orgId, req.query)),
  );
  r.get(
    "/sandboxes/:id",
    {
      schema: {
        summary: "Get a sandbox",
        tags: ["sandboxes"],
        params: SandboxParams,
        response: { 200: Sandbox, ...errors },
      },
    },
    async (req) => s.sandboxes.get(req.orgId, req.params.id),
  );
  r.patch(
    "/sandboxes/:id",
    {
      schema: {
        summary: "Set a new timeout, counted from now",
        tags: ["sandboxes"],
        params: SandboxParams,
        body: SandboxUpdate,
        response: { 200: Sandbox, ...errors },
      },
    },
    async (req) => s.sandboxes.update(req.orgId, req.params.id, req.body),
  );
  r.post(
    "/sandboxes/:id/expose",
    {
      schema: {
        summary:
          "Expose an HTTP port of the sandbox through the daemon's proxy; the answer's url reaches it",
        tags: ["sandboxes"],
        params: SandboxParams,
        body: SandboxExpose,
        response: { 200: Sandbox, ...errors },
      },
    },
    async (req) => s.sandboxes.expose(req.orgId, req.params.id, req.body.port),
  );
  r.delete(
    "/sandboxes/:id",
    {
      schema: {
        summary: "Kill a sandbox; answers once every trace of it is gone",
        tags: ["sandboxes"],
        params: SandboxParams,
        response: { 204: z.null(), ...errors },
      },
    },
    async (req, reply) => {
      await s.sandboxes.kill(req.orgId, req.params.id);
      return reply.status(204).send(null);
    },
  );
  const actions = {
    pause:
      "Freeze every process of the sandbox (cgroup freezer): no CPU, memory and connections kept",
    resume: "Thaw a paused sandbox: its processes go on where they were",
    stop: "Stop a persistent sandbox, keeping its disk for a later start",
    start: "Boot a stopped persistent sandbox again from its disk",
  } as const;
  for (const [action, summary] of Object.entries(actions) as [keyof typeof actions, string][]) {
    r.post(
      `/sandboxes/:id/${action}`,
      {
        schema: {
          summary,
          tags: ["sandboxes"],
          params: SandboxParams,
          response: { 200: Sandbox, ...errors },
        },
      },
      async (req) => s.sandboxes[action](req.orgId, req.params.id),
    );
  }
  r.post(
    "/sandboxes/:id/snapshots",
    {
      schema: {
        summary:
          "Snapshot the running sandbox's root filesystem; answers at once with status creating (poll until ready or failed)",
        tags: ["snapshots"],
        params: SandboxParams,
        body: SandboxSnapshotCreate,
        response: { 202: Snapshot, ...errors },
      },
    },
    async (req, reply) =>
      reply.status(202).send(await s.sandboxSnapshots.create(req.orgId, req.params.id, req.body)),
  );
  r.get(
    "/sandboxes/:id/snapshots",
    {
      schema: {
        summary: "List one sandbox's snapshots (next page in the Link header)",
        tags: ["snapshots"],
        params: SandboxParams,
        querystring: ListQuery,
        response: { 200: z.array(Snapshot), ...errors },
      },
    },
    async (req, reply) =>
      sendPage(req, reply, await s.sandboxSnapshots.list(req.orgId, req.params.id, req.query)),
  );
  r.get(
    "/sandboxes/:id/events",
    {
      schema: {
        summary:
          "One sandbox's events, oldest first: scheduled snapshot ticks and skips, pauses, stops",
        tags: ["events"],
        params: SandboxParams,
        querystring: EventListQuery.omit({ sandbox: true }),
        response: { 200: z.array(Event), ...errors },
      },
    },
    async (req, reply) => {
      const sandbox = await s.sandboxes.get(req.orgId, req.params.id);
      return sendPage(req, reply, s.events.list(req.orgId, { ...req.query, sandbox: sandbox.id }));
    },
  );
  r.post(
    "/sandboxes/:id/exec",
    {
      schema: {
        summary:
          "Run a command to completion (for streaming output, use the WebSocket at /exec/ws)",
        tags: ["sandboxes"],
        params: SandboxParams,
        body: ExecRequest,
        response: { 200: ExecResult, ...errors },
      },
    },
    async (req) => s.io.exec(req.orgId, req.params.id, req.body),
  );
}
