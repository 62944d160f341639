import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { CrunRuntime } from "./crun.ts";
import { SandboxStartError } from "./start-error.ts";

const hasCrun = (() => {
  try {
    execFileSync("crun", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

test("start() rejects with a SandboxStartError carrying crun's reason when the container cannot start", {
  skip: hasCrun ? false : "crun is not installed",
}, async (t) => {
  const stateDir = await mkdtemp(join(tmpdir(), "strata-crun-"));
  t.after(() => rm(stateDir, { recursive: true, force: true }));
  const crun = new CrunRuntime({ stateDir });
  const id = "sbx_0000000000000000000a";
  // A bundle whose root does not exist: crun refuses it before anything runs.
  await crun.writeBundle(
    id,
    {
      ociVersion: "1.0.2",
      root: { path: join(stateDir, "no-such-root") },
      process: { args: ["/bin/true"], cwd: "/", user: { uid: 0, gid: 0 } },
    },
    {},
  );
  const { socket, started } = crun.start(id);
  socket.resume();
  const err = await started.then(
    () => assert.fail("crun started a container without a root"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof SandboxStartError, String(err));
  assert.equal(err.sandboxId, id);
  assert.match(err.reason, /^crun exited with \d+: .+/);
  assert.ok(socket.destroyed);
  await crun.remove(id);
});
