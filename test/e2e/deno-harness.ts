import { readFile } from "node:fs/promises";
import { request } from "node:https";
import { join } from "node:path";
import WebSocket from "ws";
import type { TestDaemon } from "./harness.ts";

/**
 * Helpers of the tests that drive stratad through the official `@deno/sandbox` client:
 * the environment a user sets, a raw WebSocket for what the client never sends, and an
 * HTTPS fetch of a sandbox URL over loopback.
 */

/** Points the official client at `d`, the way its users do: environment variables only. */
export function useDaemon(d: TestDaemon): void {
  process.env.DENO_DEPLOY_ENDPOINT = d.url;
  process.env.DENO_SANDBOX_ENDPOINT = d.url;
  process.env.DENO_DEPLOY_TOKEN = d.token;
  process.env.DENO_DEPLOY_ORG = "default";
}

/** The Strata id of a Deno-shaped sandbox id (`sbx_ord_<20>` → `sbx_<20>`). */
export function strataId(denoId: string): string {
  const m = /^sbx_[a-z]{3}_([0-9a-z]{20})$/.exec(denoId);
  if (!m) throw new Error(`Not a Deno sandbox id: ${denoId}`);
  return `sbx_${m[1]}`;
}

/**
 * GETs a sandbox URL (`https://<id>.localhost:<port>`) over loopback: Node's resolver does
 * not know `*.localhost`, so this connects to 127.0.0.1 and sends the name as SNI and
 * Host, trusting the daemon's proxy CA.
 */
export async function fetchSandboxUrl(
  d: TestDaemon,
  url: string,
  path = "/",
): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  const ca = await readFile(join(d.dataDir, "proxy-tls", "proxy-ca.pem"));
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port: u.port,
        path,
        servername: u.hostname,
        headers: { host: u.host },
        ca,
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          body += c;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/** A raw JSON-RPC connection to the sandbox endpoint. */
export class RawSocket {
  readonly ws: WebSocket;
  readonly sandboxId: string;
  readonly #pending = new Map<number, (msg: Record<string, unknown>) => void>();
  readonly notifications: Record<string, unknown>[] = [];
  readonly texts: string[] = [];
  readonly #waiters = new Set<() => void>();
  #id = 0;

  private constructor(ws: WebSocket, sandboxId: string) {
    this.ws = ws;
    this.sandboxId = sandboxId;
    ws.on("message", (data) => {
      const text = String(data);
      this.texts.push(text);
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(text) as Record<string, unknown>;
      } catch {
        return;
      }
      if (typeof msg.id === "number" && this.#pending.has(msg.id)) {
        this.#pending.get(msg.id)?.(msg);
        this.#pending.delete(msg.id);
      } else if (msg.id === undefined) {
        this.notifications.push(msg);
        for (const w of [...this.#waiters]) w();
      } else this.#pending.get(-1)?.(msg);
    });
  }

  /** Opens `/api/v3/sandboxes/create` with a config (or any header value) and waits for the 101. */
  static async create(
    d: TestDaemon,
    config: unknown,
    headers: Record<string, string> = {},
  ): Promise<RawSocket> {
    const value =
      typeof config === "string"
        ? config
        : Buffer.from(JSON.stringify(config), "latin1").toString("base64");
    return RawSocket.open(`${d.url.replace("http", "ws")}/api/v3/sandboxes/create`, {
      authorization: `Bearer ${d.token}`,
      "x-deno-sandbox-config": value,
      ...headers,
    });
  }

  static open(url: string, headers: Record<string, string>): Promise<RawSocket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers });
      let id = "";
      ws.once("upgrade", (res) => {
        id = String(res.headers["x-deno-sandbox-id"] ?? "");
      });
      ws.once("open", () => resolve(new RawSocket(ws, id)));
      ws.once("unexpected-response", (_req, res) => {
        let body = "";
        res.on("data", (c: Buffer) => {
          body += c;
        });
        res.on("end", () =>
          reject(
            Object.assign(new Error(`HTTP ${res.statusCode}: ${body}`), {
              status: res.statusCode,
              body,
            }),
          ),
        );
      });
      ws.once("error", reject);
    });
  }

  /** Sends a request and resolves with the whole response message. */
  call(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const id = this.#id++;
    return this.send({ jsonrpc: "2.0", id, method, params }, id);
  }

  /** Sends any text; resolves with the response carrying `id` (-1: a response with a null id). */
  send(frame: unknown, id: number): Promise<Record<string, unknown>> {
    return new Promise((resolve) => {
      this.#pending.set(id, resolve);
      this.ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
    });
  }

  /** Resolves once a notification matching `pred` has arrived. */
  waitFor(
    pred: (n: Record<string, unknown>) => boolean,
    timeoutMs = 10_000,
  ): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error("Timed out waiting for a notification"));
      }, timeoutMs);
      const check = () => {
        const hit = this.notifications.find(pred);
        if (!hit) return;
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve(hit);
      };
      this.#waiters.add(check);
      check();
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.ws.readyState === WebSocket.CLOSED) return resolve();
      this.ws.once("close", () => resolve());
      this.ws.close();
    });
  }
}
