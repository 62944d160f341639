import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { AgentError } from "./client.ts";
import { buildAgent, bytesOf, startAgent, type TestAgent } from "./test-agent.ts";

const T = { timeout: 60_000 };
let dir: string;
let agent: TestAgent;

before(async () => {
  buildAgent();
  dir = mkdtempSync(join(tmpdir(), "strata-agent-files-"));
  agent = await startAgent();
});

after(async () => {
  await agent[Symbol.asyncDispose]();
  rmSync(dir, { recursive: true, force: true });
});

/** A fresh folder per test, so tests cannot see each other's files. */
function scratch(name: string): string {
  const p = join(dir, name);
  mkdirSync(p);
  return p;
}

async function* chunks(data: Buffer, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < data.length; at += size) yield data.subarray(at, at + size);
}

test("writeFile() then readFile() round-trips 5 MB of binary data", T, async () => {
  const path = join(scratch("roundtrip"), "blob.bin");
  const data = randomBytes(5 * 1024 * 1024 + 3);
  await agent.client.writeFile(path, chunks(data, 100_000), { mode: 0o600 });
  assert.ok(readFileSync(path).equals(data));
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.ok((await bytesOf(agent.client.readFile(path))).equals(data));
});

test("writeFile() truncates, appends, and refuses an existing file when exclusive", T, async () => {
  const path = join(scratch("modes"), "f.txt");
  await agent.client.writeFile(path, Buffer.from("first version"));
  await agent.client.writeFile(path, Buffer.from("second"));
  await agent.client.writeFile(path, Buffer.from(" more"), { append: true });
  assert.equal(readFileSync(path, "utf8"), "second more");
  await assert.rejects(agent.client.writeFile(path, Buffer.from("x"), { exclusive: true }), {
    code: "EEXIST",
  });
  const missing = join(dir, "modes", "missing.txt");
  await assert.rejects(agent.client.writeFile(missing, Buffer.from("x"), { create: false }), {
    code: "ENOENT",
  });
  assert.equal(readFileSync(path, "utf8"), "second more");
});

test(
  "openFile() answers the opened file's size with its content, and EISDIR for a folder",
  T,
  async () => {
    const folder = scratch("open");
    const path = join(folder, "blob.bin");
    const data = randomBytes(3 * 1024 * 1024 + 11);
    writeFileSync(path, data);
    const { stat, stream } = await agent.client.openFile(path);
    assert.equal(stat.type, "file");
    assert.equal(stat.size, data.length);
    assert.ok((await bytesOf(stream)).equals(data));
    await assert.rejects(agent.client.openFile(folder), { code: "EISDIR" });
    await assert.rejects(agent.client.openFile(join(folder, "missing")), { code: "ENOENT" });
    assert.equal((await agent.client.stat(folder)).type, "directory", "the agent still serves");
  },
);

test("readFile() of an empty file ends without data", T, async () => {
  const path = join(scratch("empty"), "empty");
  writeFileSync(path, "");
  assert.equal((await bytesOf(agent.client.readFile(path))).length, 0);
});

test("readFile() cancelled early leaves the agent serving", T, async () => {
  const path = join(scratch("cancel"), "big");
  writeFileSync(path, Buffer.alloc(4 * 1024 * 1024));
  const stream = agent.client.readFile(path);
  for await (const _ of stream) break; // destroys the stream after one chunk
  assert.equal((await agent.client.stat(path)).size, 4 * 1024 * 1024);
});

test("file errors carry the errno: ENOENT, ENOTDIR, EISDIR, EEXIST, ENOTEMPTY", T, async () => {
  const base = scratch("errors");
  const file = join(base, "file");
  writeFileSync(file, "x");
  mkdirSync(join(base, "full"));
  writeFileSync(join(base, "full", "inside"), "x");
  const c = agent.client;
  const err = (code: string) => (e: unknown) => {
    assert.ok(e instanceof AgentError, `expected an AgentError, got ${e}`);
    assert.equal(e.code, code);
    return true;
  };
  await assert.rejects(bytesOf(c.readFile(join(base, "missing"))), err("ENOENT"));
  await assert.rejects(bytesOf(c.readFile(base)), err("EISDIR"));
  await assert.rejects(c.stat(join(base, "missing")), err("ENOENT"));
  await assert.rejects(c.stat(join(file, "below")), err("ENOTDIR"));
  await assert.rejects(c.readDir(file), err("ENOTDIR"));
  await assert.rejects(c.writeFile(base, Buffer.from("x")), err("EISDIR"));
  await assert.rejects(c.mkdir(file), err("EEXIST"));
  await assert.rejects(c.mkdir(file, { recursive: true }), err("EEXIST"));
  await assert.rejects(c.mkdir(join(file, "sub"), { recursive: true }), err("ENOTDIR"));
  await assert.rejects(c.remove(join(base, "full")), err("ENOTEMPTY"));
  await assert.rejects(c.remove(join(base, "missing"), { recursive: true }), err("ENOENT"));
  await assert.rejects(c.rename(join(base, "missing"), join(base, "x")), err("ENOENT"));
  await assert.rejects(c.chmod(join(base, "missing"), 0o600), err("ENOENT"));
  await assert.rejects(c.stat(join(base, "missing")), {
    message: /Cannot stat ".*missing": No such file/,
  });
});

test("readFile() and writeFile() refuse a FIFO instead of blocking on it", T, async () => {
  const fifo = join(scratch("fifo"), "pipe");
  assert.equal(spawnSync("mkfifo", [fifo]).status, 0);
  await assert.rejects(bytesOf(agent.client.readFile(fifo)), { code: "EINVAL" });
  // With no reader, opening a FIFO for writing without blocking fails with ENXIO.
  await assert.rejects(agent.client.writeFile(fifo, Buffer.from("x")), { code: "ENXIO" });
});

test("stat() describes files, directories and symlinks, with noFollow", T, async () => {
  const base = scratch("stat");
  const file = join(base, "file");
  writeFileSync(file, "12345");
  symlinkSync("file", join(base, "link"));
  const c = agent.client;
  const f = await c.stat(file);
  assert.equal(f.type, "file");
  assert.equal(f.size, 5);
  assert.equal(f.mode, statSync(file).mode);
  assert.equal(f.uid, process.getuid?.());
  assert.equal(f.nlink, 1);
  assert.equal(f.linkTarget, null);
  assert.ok(Math.abs(f.mtimeMs - statSync(file).mtimeMs) < 1);
  assert.equal((await c.stat(base)).type, "directory");
  const followed = await c.stat(join(base, "link"));
  assert.equal(followed.type, "file");
  assert.equal(followed.linkTarget, null);
  const link = await c.stat(join(base, "link"), { noFollow: true });
  assert.equal(link.type, "symlink");
  assert.equal(link.linkTarget, "file");
  assert.equal(link.mode, lstatSync(join(base, "link")).mode);
});

test("readDir() lists names and types, several frames' worth for a big folder", T, async () => {
  const base = scratch("list");
  writeFileSync(join(base, "a-file"), "");
  mkdirSync(join(base, "a-dir"));
  symlinkSync("/nonexistent", join(base, "a-link"));
  spawnSync("mkfifo", [join(base, "a-fifo")]);
  const small = await agent.client.readDir(base);
  assert.deepEqual(
    small.sort((x, y) => x.name.localeCompare(y.name)),
    [
      { name: "a-dir", type: "directory" },
      { name: "a-fifo", type: "other" },
      { name: "a-file", type: "file" },
      { name: "a-link", type: "symlink" },
    ],
  );
  const big = scratch("big-list");
  const names = Array.from({ length: 3000 }, (_, i) => `entry-${"x".repeat(40)}-${i}`);
  for (const n of names) writeFileSync(join(big, n), "");
  const listed = await agent.client.readDir(big);
  assert.deepEqual(listed.map((e) => e.name).sort(), names.sort());
  assert.ok(listed.every((e) => e.type === "file"));
});

test("mkdir() creates one level, or missing parents with recursive", T, async () => {
  const base = scratch("mkdir");
  await agent.client.mkdir(join(base, "one"), { mode: 0o700 });
  assert.equal(statSync(join(base, "one")).mode & 0o777, 0o700);
  await agent.client.mkdir(join(base, "a/b//c/"), { recursive: true });
  assert.ok(statSync(join(base, "a/b/c")).isDirectory());
  await agent.client.mkdir(join(base, "a/b"), { recursive: true });
  await assert.rejects(agent.client.mkdir(join(base, "x/y")), { code: "ENOENT" });
});

test("remove() recursive deletes a tree but not what its symlinks point to", T, async () => {
  const base = scratch("remove");
  const outside = join(base, "outside");
  mkdirSync(outside);
  writeFileSync(join(outside, "precious"), "keep me");
  const tree = join(base, "tree");
  mkdirSync(join(tree, "deep/deeper/deepest"), { recursive: true });
  writeFileSync(join(tree, "deep/deeper/deepest/file"), "x");
  writeFileSync(join(tree, "top"), "x");
  symlinkSync(outside, join(tree, "deep/link-to-outside"));
  symlinkSync(join(outside, "precious"), join(tree, "link-to-file"));
  await agent.client.remove(tree, { recursive: true });
  assert.equal(existsSync(tree), false);
  assert.equal(readFileSync(join(outside, "precious"), "utf8"), "keep me");
  // A symlink to a directory given as the path is removed itself, not its target.
  symlinkSync(outside, join(base, "link"));
  await agent.client.remove(join(base, "link"), { recursive: true });
  assert.equal(existsSync(join(base, "link")), false);
  assert.equal(readFileSync(join(outside, "precious"), "utf8"), "keep me");
  // Without recursive: a file and an empty directory.
  await agent.client.remove(join(outside, "precious"));
  await agent.client.remove(outside);
  assert.equal(existsSync(outside), false);
});

test("rename() moves a file over another, and chmod() sets permission bits", T, async () => {
  const base = scratch("rename");
  writeFileSync(join(base, "from"), "new");
  writeFileSync(join(base, "to"), "old");
  await agent.client.rename(join(base, "from"), join(base, "to"));
  assert.equal(existsSync(join(base, "from")), false);
  assert.equal(readFileSync(join(base, "to"), "utf8"), "new");
  await agent.client.chmod(join(base, "to"), 0o4751);
  assert.equal(statSync(join(base, "to")).mode & 0o7777, 0o4751);
});
