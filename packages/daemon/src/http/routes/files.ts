import type { Readable } from "node:stream";
import { DirEntry, ErrorBody, FileStat, SandboxParams } from "@strata/api";
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { StrataError } from "../../errors.ts";
import type { HttpServices } from "../http-services.ts";

const errors = { 400: ErrorBody, 401: ErrorBody, 404: ErrorBody, 409: ErrorBody };
const PathQuery = z.strictObject({ path: z.string().min(1).max(4096) });
const bool = z.enum(["true", "false", "1", "0"]).transform((v) => v === "true" || v === "1");
const mode = z.coerce.number().int().min(0).max(0o7777);

/**
 * Files inside a sandbox, through its agent. Contents stream both ways as raw bytes
 * (`application/octet-stream`), so large files never sit whole in the daemon's memory.
 */
export async function fileRoutes(app: FastifyInstance, s: HttpServices): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  // Raw bodies stay streams; the route passes them to the agent as they arrive.
  app.addContentTypeParser("application/octet-stream", (_req, payload, done) =>
    done(null, payload),
  );

  r.get(
    "/sandboxes/:id/files/content",
    {
      schema: {
        summary: "Read a file (streamed bytes)",
        tags: ["files"],
        params: SandboxParams,
        querystring: PathQuery,
      },
    },
    async (req, reply) => {
      const file = await s.io
        .openFile(req.orgId, req.params.id, req.query.path)
        .catch((err: unknown) => {
          if (!(err instanceof StrataError) || err.errno !== "EISDIR") throw err;
          return undefined;
        });
      if (!file)
        return reply.status(400).send({
          code: "file_error",
          errno: "EISDIR",
          message: `Cannot read ${JSON.stringify(req.query.path)}: it is a directory`,
          requestId: req.id,
        });
      reply.header("content-type", "application/octet-stream");
      reply.header("content-length", String(file.size));
      return reply.send(file.stream);
    },
  );
  r.put(
    "/sandboxes/:id/files/content",
    {
      bodyLimit: 64 * 1024 ** 3,
      schema: {
        summary: "Write a file from the raw request body (application/octet-stream)",
        tags: ["files"],
        params: SandboxParams,
        querystring: PathQuery.extend({ mode: mode.optional(), append: bool.optional() }),
        response: { 204: z.null(), ...errors },
      },
    },
    async (req, reply) => {
      const body = req.body as Readable | Buffer | undefined;
      const data: AsyncIterable<Uint8Array> =
        body === undefined
          ? (async function* () {})()
          : Buffer.isBuffer(body)
            ? (async function* () {
                yield body;
              })()
            : body;
      await s.io.writeFile(req.orgId, req.params.id, req.query.path, data, {
        mode: req.query.mode,
        append: req.query.append,
      });
      return reply.status(204).send(null);
    },
  );
  r.get(
    "/sandboxes/:id/files/stat",
    {
      schema: {
        summary: "Stat a path (noFollow: do not follow a final symlink)",
        tags: ["files"],
        params: SandboxParams,
        querystring: PathQuery.extend({ noFollow: bool.optional() }),
        response: { 200: FileStat, ...errors },
      },
    },
    async (req) => s.io.stat(req.orgId, req.params.id, req.query.path, req.query.noFollow ?? false),
  );
  r.get(
    "/sandboxes/:id/files/list",
    {
      schema: {
        summary: "List a directory",
        tags: ["files"],
        params: SandboxParams,
        querystring: PathQuery,
        response: { 200: z.array(DirEntry), ...errors },
      },
    },
    async (req) => s.io.readDir(req.orgId, req.params.id, req.query.path),
  );
  r.post(
    "/sandboxes/:id/files/mkdir",
    {
      schema: {
        summary: "Make a directory",
        tags: ["files"],
        params: SandboxParams,
        body: z.strictObject({
          path: z.string(),
          recursive: z.boolean().optional(),
          mode: z.number().int().min(0).max(0o7777).optional(),
        }),
        response: { 204: z.null(), ...errors },
      },
    },
    async (req, reply) => {
      await s.io.mkdir(req.orgId, req.params.id, req.body.path, {
        recursive: req.body.recursive,
        mode: req.body.mode,
      });
      return reply.status(204).send(null);
    },
  );
  r.delete(
    "/sandboxes/:id/files",
    {
      schema: {
        summary: "Remove a file or directory (recursive never follows symlinks)",
        tags: ["files"],
        params: SandboxParams,
        querystring: PathQuery.extend({ recursive: bool.optional() }),
        response: { 204: z.null(), ...errors },
      },
    },
    async (req, reply) => {
      await s.io.remove(req.orgId, req.params.id, req.query.path, req.query.recursive ?? false);
      return reply.status(204).send(null);
    },
  );
  r.post(
    "/sandboxes/:id/files/rename",
    {
      schema: {
        summary: "Rename or move a path",
        tags: ["files"],
        params: SandboxParams,
        body: z.strictObject({ from: z.string(), to: z.string() }),
        response: { 204: z.null(), ...errors },
      },
    },
    async (req, reply) => {
      await s.io.rename(req.orgId, req.params.id, req.body.from, req.body.to);
      return reply.status(204).send(null);
    },
  );
  r.post(
    "/sandboxes/:id/files/chmod",
    {
      schema: {
        summary: "Change a path's mode",
        tags: ["files"],
        params: SandboxParams,
        body: z.strictObject({ path: z.string(), mode: z.number().int().min(0).max(0o7777) }),
        response: { 204: z.null(), ...errors },
      },
    },
    async (req, reply) => {
      await s.io.chmod(req.orgId, req.params.id, req.body.path, req.body.mode);
      return reply.status(204).send(null);
    },
  );
}
