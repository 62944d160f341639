import { DoctorReport, Health } from "@strata/api";
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { AppOptions } from "../app.ts";

export async function healthRoutes(app: FastifyInstance, options: AppOptions): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.get(
    "/health",
    {
      config: { public: true },
      schema: {
        summary: "Liveness: 200 once the daemon accepts requests",
        tags: ["host"],
        security: [],
        response: { 200: Health },
      },
    },
    async () => ({ status: "ok" as const, version: options.version, region: options.region }),
  );
  r.get(
    "/doctor",
    {
      schema: {
        summary: "Check the host: tools, kernel features, cgroup mode",
        tags: ["host"],
        response: { 200: DoctorReport },
      },
    },
    async () => options.services.doctor(),
  );
}
