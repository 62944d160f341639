import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { SandboxInfo, Snapshot } from "@strata/sdk";
import {
  type Reply,
  type SeenRequest,
  sandboxFixture,
  snapshotFixture,
  startFakeDaemon,
} from "@strata/sdk/testing";

const MAIN = fileURLToPath(new URL("./main.ts", import.meta.url));

/** The id of the sandbox the fixtures describe. */
export const ID = "sbx_0123456789abcdefghij";

/** A request the fake daemon received. */
export type Seen = SeenRequest;

/**
 * The SDK's fake daemon on 127.0.0.1, recording requests (`seen`); `route` answers each
 * one, with optional headers (a `Link` to the next page).
 */
export async function fakeDaemon(route: (req: Seen) => Reply) {
  const daemon = await startFakeDaemon(route);
  return { url: daemon.url, seen: daemon.requests, [Symbol.asyncDispose]: () => daemon.close() };
}

/** Runs the CLI as a user would, against `endpoint`, with a token and no colours. */
export function strata(endpoint: string, args: string[]) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [MAIN, ...args],
      {
        env: { ...process.env, STRATA_ENDPOINT: endpoint, STRATA_TOKEN: "stk_test", NO_COLOR: "1" },
      },
      (err, stdout, stderr) => {
        const code = err && typeof err.code === "number" ? err.code : err ? 1 : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** A sandbox as the daemon returns it, with `overrides` applied. */
export function sandbox(overrides: Partial<SandboxInfo> = {}): SandboxInfo {
  return sandboxFixture({ id: ID, createdAt: "2025-01-01T00:00:00.123Z", ...overrides });
}

/** A snapshot of the sandbox {@link ID} as the daemon returns it, with `overrides` applied. */
export function snapshot(overrides: Partial<Snapshot> = {}): Snapshot {
  return snapshotFixture({
    allocatedSize: 1_000,
    flattenedSize: 50_000_000,
    source: { kind: "sandbox", sandbox: ID },
    ...overrides,
  });
}
