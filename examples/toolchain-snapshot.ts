import { existsSync } from "node:fs";
/**
 * Build a toolchain once, boot it many times: install Node.js, npm and TypeScript into a
 * bootable volume, snapshot it, then boot two sandboxes from the snapshot at the same
 * time. Each gets its own copy-on-write root: a file written in one is invisible to the
 * other and to any later sandbox from the snapshot.
 *
 *   node examples/toolchain-snapshot.ts
 *
 * Reaches the daemon through STRATA_ENDPOINT and STRATA_TOKEN (or the local admin token
 * file). Deletes what it made unless STRATA_EXAMPLE_KEEP=1; STRATA_EXAMPLE_TAG sets the
 * suffix of its slugs (default: random).
 */
import { Client, type Sandbox } from "@strata/sdk";

export async function main(): Promise<void> {
  const client = new Client();
  const tag = process.env.STRATA_EXAMPLE_TAG ?? Math.random().toString(36).slice(2, 8);
  const keep = process.env.STRATA_EXAMPLE_KEEP === "1";
  await using cleanup = new AsyncDisposableStack();
  const step = timer();

  const volume = await client.volumes.create({
    slug: `toolchain-${tag}`,
    capacity: "4GB",
    from: "builtin:debian-13",
  });
  if (!keep) cleanup.defer(() => client.volumes.delete(volume.id));
  step(`volume ${volume.slug} from builtin:debian-13`);

  {
    await using builder = await client.sandboxes.create({ root: volume.slug, memory: "2GiB" });
    await builder.sh`apt-get update && apt-get install -y --no-install-recommends nodejs npm`
      .env({ DEBIAN_FRONTEND: "noninteractive" })
      .quiet();
    step(`apt-get install nodejs npm in ${builder.id}`);
    // Behind a TLS-inspecting proxy the sandbox needs the proxy's CA, as this host does: give
    // npm the host's CA bundle (NODE_EXTRA_CA_CERTS, else Debian's system bundle) as extra CAs.
    const hostBundle = "/etc/ssl/certs/ca-certificates.crt";
    const ca = process.env.NODE_EXTRA_CA_CERTS ?? (existsSync(hostBundle) ? hostBundle : undefined);
    const npmEnv: Record<string, string> = {};
    if (ca) {
      await builder.fs.upload(ca, "/etc/ssl/certs/extra-ca.pem");
      npmEnv.NODE_EXTRA_CA_CERTS = "/etc/ssl/certs/extra-ca.pem";
    }
    await builder.sh`npm install -g typescript`.env(npmEnv).quiet();
    step("npm install -g typescript");
    await builder.fs.writeTextFile(
      "/opt/banner.txt",
      `toolchain ${tag}, built ${new Date().toISOString()}\n`,
    );
  } // killed here: the volume is detached and can be snapshotted

  const snapshot = await client.volumes.snapshot(volume.slug, { slug: `toolchain-${tag}-v1` });
  if (!keep) cleanup.defer(() => client.snapshots.delete(snapshot.id));
  step(`snapshot ${snapshot.slug}`);

  // Both boot at once; each gets a private copy-on-write root.
  const [a, b] = (await createAll(client, cleanup, [
    { root: snapshot.slug },
    { root: snapshot.slug },
  ])) as [Sandbox, Sandbox];
  step(`booted ${a.id} and ${b.id} from the snapshot, concurrently`);
  await Promise.all(
    [a, b].map(async (sandbox) => {
      const report = await sandbox.sh`node --version; tsc --version; cat /opt/banner.txt`.text();
      console.log(`${sandbox.id}:\n${indent(report)}`);
    }),
  );

  await a.fs.writeTextFile("/root/only-in-a.txt", "written in a\n");
  const [c] = (await createAll(client, cleanup, [{ root: snapshot.slug }])) as [Sandbox];
  const seen = await Promise.all([a, b, c].map((s) => s.fs.exists("/root/only-in-a.txt")));
  console.log(`/root/only-in-a.txt visible in a: ${seen[0]}, b: ${seen[1]}, c (new): ${seen[2]}`);
  if (!seen[0] || seen[1] || seen[2]) throw new Error("the sandboxes' roots are not isolated");
  step("isolation checked");
}

/**
 * Creates sandboxes concurrently; each one is killed when `stack` is disposed. If any
 * fails, those that started are still killed.
 */
async function createAll(
  client: Client,
  stack: AsyncDisposableStack,
  options: { root: string }[],
): Promise<Sandbox[]> {
  const results = await Promise.allSettled(options.map((o) => client.sandboxes.create(o)));
  for (const r of results) if (r.status === "fulfilled") stack.use(r.value);
  return results.map((r) => {
    if (r.status === "rejected") throw r.reason;
    return r.value;
  });
}

/** Prints each step with the seconds it took. */
function timer(): (what: string) => void {
  let last = performance.now();
  return (what) => {
    const now = performance.now();
    console.log(`[${((now - last) / 1000).toFixed(1)}s] ${what}`);
    last = now;
  };
}

function indent(text: string): string {
  return text
    .split("\n")
    .map((l) => `  ${l}`)
    .join("\n");
}

if (import.meta.main) await main();
