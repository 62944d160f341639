/**
 * A NumPy web app in a sandbox: build a bootable volume with Debian's python3 and
 * python3-numpy, snapshot it, boot a sandbox from the snapshot with port 8000 exposed,
 * start a small http.server app there, and fetch its page through `sandbox.url`.
 *
 *   node examples/python-explorer.ts
 *
 * Reaches the daemon through STRATA_ENDPOINT and STRATA_TOKEN (or the local admin token
 * file). Deletes what it made unless STRATA_EXAMPLE_KEEP=1.
 */
import { Client } from "@strata/sdk";
import { fetchSandboxUrl } from "./localhost-fetch.ts";

const APP = `
import html, json
from http.server import BaseHTTPRequestHandler, HTTPServer
import numpy as np

rng = np.random.default_rng(42)
heights = rng.normal(loc=170.0, scale=8.0, size=10_000)

class Explorer(BaseHTTPRequestHandler):
    def do_GET(self):
        counts, edges = np.histogram(heights, bins=8)
        rows = "".join(
            f"<tr><td>{lo:.1f}–{hi:.1f}</td><td>{n}</td></tr>"
            for lo, hi, n in zip(edges[:-1], edges[1:], counts)
        )
        body = (
            "<!doctype html><title>NumPy explorer</title>"
            f"<h1>NumPy {html.escape(np.__version__)} explorer</h1>"
            f"<p>n={heights.size} mean={heights.mean():.2f} std={heights.std():.2f}"
            f" p95={np.percentile(heights, 95):.2f}</p>"
            f"<table><tr><th>cm</th><th>count</th></tr>{rows}</table>\\n"
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

server = HTTPServer(("0.0.0.0", 8000), Explorer)
print("listening on 8000", flush=True)
server.serve_forever()
`;

export async function main(): Promise<void> {
  const client = new Client();
  const tag = process.env.STRATA_EXAMPLE_TAG ?? Math.random().toString(36).slice(2, 8);
  const keep = process.env.STRATA_EXAMPLE_KEEP === "1";
  await using cleanup = new AsyncDisposableStack();

  const volume = await client.volumes.create({
    slug: `pyexp-${tag}`,
    capacity: "3GB",
    from: "builtin:debian-13",
  });
  if (!keep) cleanup.defer(() => client.volumes.delete(volume.id));
  {
    await using builder = await client.sandboxes.create({ root: volume.slug });
    console.log(`installing python3 and python3-numpy in ${builder.id}...`);
    await builder.sh`apt-get update && apt-get install -y --no-install-recommends python3 python3-numpy`
      .env({ DEBIAN_FRONTEND: "noninteractive" })
      .quiet();
  } // killed: the volume is detached and can be snapshotted
  const snapshot = await client.volumes.snapshot(volume.slug, { slug: `pyexp-${tag}-v1` });
  if (!keep) cleanup.defer(() => client.snapshots.delete(snapshot.id));
  console.log(`snapshot ${snapshot.slug} (${snapshot.id})`);

  await using sandbox = await client.sandboxes.create({ root: snapshot.slug, port: 8000 });
  await sandbox.fs.mkdir("/opt/explorer", { recursive: true });
  await sandbox.fs.writeTextFile("/opt/explorer/app.py", APP);
  // The server runs as long as this handle is open; disposing it stops the server.
  await using server = await sandbox.spawn(["python3", "-u", "/opt/explorer/app.py"]);
  await waitForLine(server.stdout, "listening on 8000");

  console.log(`GET ${sandbox.url}`);
  const page = await fetchSandboxUrl(sandbox.url!);
  console.log(`${page.status} ${page.contentType}`);
  console.log(page.body.trimEnd());
}

/** Reads a process's output until a line contains `text`. */
async function waitForLine(stream: AsyncIterable<Uint8Array>, text: string): Promise<void> {
  const decoder = new TextDecoder();
  let seen = "";
  for await (const chunk of stream) {
    seen += decoder.decode(chunk, { stream: true });
    if (seen.includes(text)) return;
  }
  throw new Error(`The app exited before printing ${JSON.stringify(text)}: ${seen}`);
}

if (import.meta.main) await main();
