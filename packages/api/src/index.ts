/**
 * @module
 * The Strata wire contract: zod schemas for every request and response of the REST API
 * under `/v1`, their TypeScript types, the error catalogue, the stateless input rules and
 * size helpers. The daemon validates with these schemas and generates its OpenAPI document
 * from them; the SDK and CLI use the types, and the CLI checks its arguments with the same
 * rules (`@strata/api/rules`, which loads no zod).
 *
 * Glossary (see `rules.ts` for names, slugs, rules and limits):
 * - **name** / **slug**: what a user calls a volume or snapshot; one rule and one
 *   namespace per organisation for volumes, volume snapshots and sandbox snapshots.
 * - **id**: what the daemon calls a resource (`vol_…`, `snp_…`, `sbx_…`).
 * - **code** / **kind**: an error's stable catalogue entry, and the class that decides its
 *   HTTP status (`errors.ts`).
 * - **rule** / **limit**: a check that needs only the value (here), and a bound the daemon
 *   configures (checked by the daemon).
 */
export * from "./common.ts";
export * from "./doctor.ts";
export * from "./errors.ts";
export * from "./event.ts";
export * from "./image.ts";
export * from "./org.ts";
export * from "./rule-schema.ts";
export * from "./rules.ts";
export * from "./sandbox.ts";
export * from "./sizes.ts";
export * from "./snapshot.ts";
export * from "./snapshot-files.ts";
export * from "./values.ts";
export * from "./volume.ts";

/** The API version this contract describes. */
export const API_VERSION = "v1";
