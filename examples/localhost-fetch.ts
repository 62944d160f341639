/**
 * Fetches a sandbox URL such as `http://<id>-8000.localhost:7080/`.
 *
 * Browsers resolve every `*.localhost` name to the loopback address, but Node's `fetch`
 * asks the system resolver (which usually knows only `localhost` itself) and will not let
 * a caller set the `Host` header. So for `*.localhost` this connects to 127.0.0.1 with
 * node:http and sends the real host name in `Host`, as a browser would; other URLs go
 * through `fetch`.
 */
import { request } from "node:http";

export interface SimpleResponse {
  status: number;
  contentType: string | undefined;
  body: string;
}

export async function fetchSandboxUrl(url: string): Promise<SimpleResponse> {
  const u = new URL(url);
  if (!u.hostname.endsWith(".localhost")) {
    const res = await fetch(u);
    return {
      status: res.status,
      contentType: res.headers.get("content-type") ?? undefined,
      body: await res.text(),
    };
  }
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port: u.port || 80,
        path: `${u.pathname}${u.search}`,
        headers: { host: u.host },
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          body += chunk;
        });
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, contentType: res.headers["content-type"], body }),
        );
      },
    );
    req.on("error", reject);
    req.end();
  });
}
