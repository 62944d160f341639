#!/usr/bin/env node
/**
 * Regenerates docs/errors.md from packages/api/src/errors.ts: the daemon's catalogue and the
 * clients' own codes (a test checks they agree).
 */
import { writeFile } from "node:fs/promises";
import { CLIENT_ERROR_CODES, ERROR_CODES, KIND_STATUS } from "../packages/api/src/errors.ts";

const rows = Object.entries(ERROR_CODES).map(
  ([code, [kind, text]]) => `| \`${code}\` | ${kind} | ${KIND_STATUS[kind]} | ${text} |`,
);
const clientRows = Object.entries(CLIENT_ERROR_CODES).map(
  ([code, text]) => `| \`${code}\` | ${text} |`,
);
const doc = `# Error codes

Every error response is \`{ "code", "message", "requestId", "details"? }\`. The **code** is
stable: clients may branch on it. The **kind** decides the HTTP status. This page is generated
from \`packages/api/src/errors.ts\` by \`node tools/gen-error-docs.ts\`, and a test keeps the two
in sync.

A request that breaks one of the contract's input rules (\`@strata/api/rules\`: names, ports,
sizes, durations, labels, environment, mount paths, the shape of a snapshot schedule) gets
that rule's code and a message quoting the value, whether the schema or a service found it;
a wrong type or an unknown field is \`invalid_request\` with per-field \`details\`.

| Code | Kind | Status | Meaning |
|---|---|---|---|
${rows.join("\n")}

## Client-side codes

The SDK (\`@strata/sdk\`) raises these itself; they never come from the daemon. Its errors
carry them in \`.code\` like the daemon's (\`err instanceof StrataError\`).

| Code | Meaning |
|---|---|
${clientRows.join("\n")}
`;
await writeFile(new URL("../docs/errors.md", import.meta.url), doc);
