import { ErrorBody, Image, ImageParams } from "@strata/api";
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { HttpServices } from "../http-services.ts";

export async function imageRoutes(app: FastifyInstance, s: HttpServices): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.get(
    "/images",
    {
      schema: {
        summary: "List builtin images and their build status",
        tags: ["images"],
        response: { 200: z.array(Image), 401: ErrorBody },
      },
    },
    async () => s.images.list(),
  );
  r.get(
    "/images/:name",
    {
      schema: {
        summary: "Get a builtin image's build status",
        tags: ["images"],
        params: ImageParams,
        response: { 200: Image, 401: ErrorBody, 404: ErrorBody },
      },
    },
    async (req) => s.images.get(req.params.name),
  );
}
