/**
 * @module
 * The Strata wire contract: zod schemas for every request and response of the REST API
 * under `/v1`, their TypeScript types, the error catalogue and size helpers. The daemon
 * validates with these schemas and generates its OpenAPI document from them; the SDK and
 * CLI use the types.
 */
export * from "./common.ts";
export * from "./doctor.ts";
export * from "./errors.ts";
export * from "./event.ts";
export * from "./image.ts";
export * from "./org.ts";
export * from "./sandbox.ts";
export * from "./sizes.ts";
export * from "./snapshot.ts";
export * from "./snapshot-files.ts";
export * from "./values.ts";
export * from "./volume.ts";

/** The API version this contract describes. */
export const API_VERSION = "v1";
