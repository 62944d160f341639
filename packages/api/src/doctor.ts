import { z } from "zod";

/** One host check: what was checked, whether it passed, and how to fix it when not. */
export const DoctorCheck = z.object({
  name: z.string(),
  ok: z.boolean(),
  /** `fatal` checks stop the daemon from starting; `warn` ones limit features. */
  severity: z.enum(["fatal", "warn"]),
  detail: z.string(),
  fix: z.string().nullable(),
});
export type DoctorCheck = z.infer<typeof DoctorCheck>;

export const DoctorReport = z.object({ ok: z.boolean(), checks: z.array(DoctorCheck) });
export type DoctorReport = z.infer<typeof DoctorReport>;
