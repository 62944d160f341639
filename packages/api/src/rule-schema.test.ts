import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { OrgUpdate } from "./org.ts";
import { RULE_CODE_PARAM, ruleFailureOf } from "./rule-schema.ts";
import { SandboxCreate, SandboxExpose, SandboxUpdate } from "./sandbox.ts";
import { SandboxSnapshotCreate, SnapshotCreate } from "./snapshot.ts";
import { VolumeCreate } from "./volume.ts";

/** What the API answers for `body`: a rule's code and message, invalid_request, or ok. */
function verdict(schema: z.ZodType, body: unknown): { code: string; message?: string } | "ok" {
  const r = schema.safeParse(body);
  if (r.success) return "ok";
  return ruleFailureOf(r.error.issues) ?? { code: "invalid_request" };
}

test("each broken rule of a body answers with the rule's code and a message quoting the value", () => {
  const volume = { region: "local", capacity: "1GB" };
  const cases: [z.ZodType, unknown, string, RegExp][] = [
    [VolumeCreate, { ...volume, slug: "Bad_Slug" }, "invalid_slug", /"Bad_Slug"/],
    [VolumeCreate, { ...volume, slug: "ab--cd" }, "invalid_slug", /"ab--cd"/],
    [VolumeCreate, { ...volume, slug: "x".repeat(64) }, "invalid_slug", /"x{64}"/],
    [
      VolumeCreate,
      { slug: "okay", region: "local", capacity: "lots" },
      "invalid_capacity",
      /"lots"/,
    ],
    [SnapshotCreate, { slug: "-x" }, "invalid_slug", /"-x"/],
    [SandboxSnapshotCreate, { name: "a" }, "invalid_snapshot_name", /"a"/],
    [SandboxSnapshotCreate, { name: "" }, "invalid_snapshot_name", /""/],
    [SandboxSnapshotCreate, { name: "x".repeat(64) }, "invalid_snapshot_name", /"x{64}"/],
    [SandboxCreate, { port: 70000 }, "invalid_port", /70000/],
    [SandboxCreate, { timeout: "soon" }, "invalid_timeout", /"soon"/],
    [SandboxCreate, { memory: "1KiB" }, "invalid_limits", /"1KiB"/],
    [SandboxCreate, { cpus: 0.01 }, "invalid_limits", /0\.01/],
    [SandboxCreate, { labels: { "bad key!": "x" } }, "invalid_labels", /"bad key!"/],
    [SandboxCreate, { env: { "1BAD": "x" } }, "invalid_env", /"1BAD"/],
    [
      SandboxCreate,
      { volumes: { "relative/path": "v" } },
      "invalid_mount_path",
      /"relative\/path"/,
    ],
    [SandboxCreate, { volumes: { "/proc/x": "v" } }, "invalid_mount_path", /"\/proc\/x"/],
    [
      SandboxCreate,
      { snapshotMode: "automatic" },
      "invalid_snapshot_schedule",
      /needs snapshotFrequency/,
    ],
    [
      SandboxCreate,
      { snapshotMode: "automatic", snapshotFrequency: "* * * * *", snapshotKeep: 0 },
      "invalid_snapshot_schedule",
      /snapshotKeep 0/,
    ],
    [SandboxUpdate, { timeout: "0s" }, "invalid_timeout", /"0s"/],
    [SandboxExpose, { port: 0 }, "invalid_port", /Invalid port 0/],
    [OrgUpdate, { snapshotRetention: "soon" }, "invalid_retention", /"soon"/],
  ];
  for (const [schema, body, code, message] of cases) {
    const v = verdict(schema, body);
    assert.notEqual(v, "ok", JSON.stringify(body));
    if (v === "ok") continue;
    assert.equal(v.code, code, JSON.stringify(body));
    assert.match(v.message ?? "", message, JSON.stringify(body));
  }
});

test("a wrong type or an unknown field stays invalid_request, even beside a broken rule", () => {
  for (const [schema, body] of [
    [VolumeCreate, { slug: 42, region: "local", capacity: "1GB" }],
    [VolumeCreate, { slug: "Bad_Slug", region: "local", capacity: "1GB", colour: "red" }],
    [SandboxCreate, { port: 80.5 }],
    [SandboxCreate, { port: "80" }],
    [SandboxCreate, { runtime: "docker" }],
    [SandboxCreate, { labels: { k: 1 } }],
    [
      SandboxCreate,
      { snapshotKeep: 1.5, snapshotMode: "automatic", snapshotFrequency: "* * * * *" },
    ],
    [SandboxSnapshotCreate, { name: 7 }],
  ] as const)
    assert.deepEqual(verdict(schema, body), { code: "invalid_request" }, JSON.stringify(body));
});

test("valid bodies pass, names by the shared rule included", () => {
  for (const [schema, body] of [
    [VolumeCreate, { slug: "api-env-v1.0.0", region: "local", capacity: 1 }],
    [SnapshotCreate, { slug: "x".repeat(63) }],
    [SandboxSnapshotCreate, { name: "api-env-v1.0.0" }],
    [
      SandboxCreate,
      {
        port: 8000,
        memory: "512MiB",
        cpus: 0.5,
        timeout: "30m",
        labels: { team: "a" },
        env: { A: "b" },
        volumes: { "/data/": "v" },
        snapshotMode: "automatic",
        snapshotFrequency: "0 * * * *",
        snapshotKeep: 3,
      },
    ],
    [SandboxCreate, {}],
  ] as const)
    assert.equal(verdict(schema, body), "ok", JSON.stringify(body));
});

test("the rules show in JSON Schema as lengths, patterns, ranges and property limits", () => {
  const json = (s: z.ZodType) => JSON.stringify(z.toJSONSchema(s, { io: "input" }));
  const volume = JSON.parse(json(VolumeCreate));
  assert.equal(volume.properties.slug.minLength, 2);
  assert.equal(volume.properties.slug.maxLength, 63);
  assert.equal(typeof volume.properties.slug.pattern, "string");
  assert.ok(new RegExp(volume.properties.slug.pattern).test("api-env-v1.0.0"));
  assert.ok(!new RegExp(volume.properties.slug.pattern).test("ab--cd"));
  const name = JSON.parse(json(SandboxSnapshotCreate)).properties.name;
  assert.deepEqual(
    [name.minLength, name.maxLength, name.pattern],
    [2, 63, volume.properties.slug.pattern],
  );
  const sandbox = JSON.parse(json(SandboxCreate)).properties;
  assert.deepEqual(
    [sandbox.port.minimum, sandbox.port.maximum, sandbox.port.type],
    [1, 65535, "integer"],
  );
  assert.equal(sandbox.cpus.minimum, 0.1);
  assert.equal(sandbox.labels.maxProperties, 10);
  assert.equal(sandbox.labels.additionalProperties.maxLength, 256);
  assert.deepEqual([sandbox.snapshotKeep.minimum, sandbox.snapshotKeep.maximum], [1, 1000]);
  assert.match(sandbox.memory.description, /64 MiB to 16 GiB/);
});

test("ruleFailureOf() needs every issue to carry a rule code", () => {
  const rule = {
    message: "Invalid port 0: 1–65535",
    params: { [RULE_CODE_PARAM]: "invalid_port" },
  };
  assert.deepEqual(ruleFailureOf([rule]), { code: "invalid_port", message: rule.message });
  assert.equal(ruleFailureOf([rule, { message: "Unrecognized key" }]), undefined);
  assert.equal(ruleFailureOf([]), undefined);
});

test("@strata/api/rules loads without zod", () => {
  const rules = fileURLToPath(new URL("./rules.ts", import.meta.url));
  const script = `
    import { registerHooks } from "node:module";
    const seen = [];
    registerHooks({ resolve(spec, ctx, next) { seen.push(spec); return next(spec, ctx); } });
    await import(${JSON.stringify(rules)});
    process.stdout.write(JSON.stringify(seen));`;
  const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], {
    encoding: "utf8",
  });
  const seen: string[] = JSON.parse(out);
  assert.ok(
    seen.some((s) => s.endsWith("rules.ts")),
    out,
  );
  assert.deepEqual(
    seen.filter((s) => !s.startsWith(".") && !s.startsWith("/")),
    [],
    `rules.ts imports packages: ${out}`,
  );
});
