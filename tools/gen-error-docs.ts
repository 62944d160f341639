#!/usr/bin/env node
/** Regenerates the table in docs/errors.md from packages/api/src/errors.ts (a test checks they agree). */
import { writeFile } from "node:fs/promises";
import { ERROR_CODES, KIND_STATUS } from "../packages/api/src/errors.ts";

const rows = Object.entries(ERROR_CODES).map(
  ([code, [kind, text]]) => `| \`${code}\` | ${kind} | ${KIND_STATUS[kind]} | ${text} |`,
);
const doc = `# Error codes

Every error response is \`{ "code", "message", "requestId", "details"? }\`. The **code** is
stable: clients may branch on it. The **kind** decides the HTTP status. This page is generated
from \`packages/api/src/errors.ts\` by \`node tools/gen-error-docs.ts\`, and a test keeps the two
in sync.

| Code | Kind | Status | Meaning |
|---|---|---|---|
${rows.join("\n")}

The SDK adds client-side codes that never come from the daemon: \`missing_token\`,
\`network_error\`, \`invalid_response\`, \`volume_failed\`.
`;
await writeFile(new URL("../docs/errors.md", import.meta.url), doc);
