import { execFile } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import type { SandboxInfo, Snapshot } from "@strata/sdk";

const MAIN = fileURLToPath(new URL("./main.ts", import.meta.url));

/** The id of the sandbox the fixtures describe. */
export const ID = "sbx_0123456789abcdefghij";

/** A request the fake daemon received. */
export interface Seen {
  method: string;
  url: URL;
  body: unknown;
}

/**
 * A daemon stand-in on 127.0.0.1 that records requests (`seen`); `route` answers each one,
 * with optional headers (a `Link` to the next page).
 */
export async function fakeDaemon(
  route: (req: Seen) => { status?: number; json?: unknown; headers?: Record<string, string> },
) {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let raw = "";
    req.on("data", (c: Buffer) => {
      raw += c;
    });
    req.on("end", () => {
      const s: Seen = {
        method: req.method ?? "GET",
        url: new URL(req.url ?? "/", `http://${req.headers.host}`),
        body: raw ? JSON.parse(raw) : undefined,
      };
      seen.push(s);
      const reply = route(s);
      res.writeHead(reply.status ?? 200, { "content-type": "application/json", ...reply.headers });
      res.end(reply.json === undefined ? "" : JSON.stringify(reply.json));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return { url, seen, [Symbol.asyncDispose]: close };
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
  return {
    id: ID,
    region: "local",
    status: "ready",
    stopReason: null,
    root: { kind: "image", image: "builtin:debian-13" },
    volumes: [],
    labels: {},
    memory: 2 ** 30,
    cpus: 1,
    runtime: "crun",
    port: null,
    url: null,
    allowNet: null,
    createdAt: "2025-01-01T00:00:00.123Z",
    stoppedAt: null,
    expiresAt: null,
    template: { kind: "image", image: "builtin:debian-13" },
    persistent: false,
    diskBytes: null,
    startable: false,
    snapshotMode: "manual",
    snapshotFrequency: null,
    snapshotKeep: null,
    ...overrides,
  };
}

/** A snapshot of the sandbox {@link ID} as the daemon returns it, with `overrides` applied. */
export function snapshot(overrides: Partial<Snapshot> = {}): Snapshot {
  return {
    id: "snp_1",
    slug: "snap-1",
    region: "local",
    status: "ready",
    failureReason: null,
    volume: null,
    allocatedSize: 1_000,
    flattenedSize: 50_000_000,
    bootable: true,
    createdAt: "2025-01-01T00:00:00.000Z",
    kind: "sandbox",
    source: { kind: "sandbox", sandbox: ID },
    template: { kind: "image", image: "builtin:debian-13" },
    sizeBytes: 50_000_000,
    automatic: false,
    protected: false,
    expiresAt: null,
    settledAt: "2025-01-01T00:00:01.000Z",
    ...overrides,
  };
}
