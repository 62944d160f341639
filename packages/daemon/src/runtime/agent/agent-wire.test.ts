import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import { before, test } from "node:test";
import {
  encodeExec,
  encodeFrame,
  MAX_FRAME_LENGTH,
  MessageType,
  PayloadWriter,
} from "./protocol.ts";
import { buildAgent, ENV, startAgent } from "./test-agent.ts";

// These tests write raw frames next to the client, with ids the client never uses.
const RAW_ID = 0x7fff_0000;
const T = { timeout: 30_000 };

before(() => buildAgent());

test("the agent takes FS_DATA frames up to the protocol's maximum size", T, async () => {
  await using agent = await startAgent();
  const dir = mkdtempSync(join(tmpdir(), "strata-agent-wire-"));
  try {
    const path = join(dir, "big");
    const data = Buffer.alloc(MAX_FRAME_LENGTH - 5, 0x5a);
    const raw = agent.child.stdio[3] as Duplex;
    const open = new PayloadWriter()
      .u32(1 | 2)
      .u32(0o644)
      .str(path)
      .finish();
    raw.write(encodeFrame(MessageType.FsWrite, RAW_ID, open));
    raw.write(encodeFrame(MessageType.FsData, RAW_ID, data));
    raw.write(encodeFrame(MessageType.FsData, RAW_ID, data));
    raw.write(encodeFrame(MessageType.FsEnd, RAW_ID));
    // The agent handles frames in order: this stat is answered after the file closed.
    assert.equal((await agent.client.stat(path)).size, 2 * data.length);
    assert.ok(readFileSync(path).equals(Buffer.concat([data, data])));
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test("the agent drops the connection and exits 2 on an unknown message type", T, async () => {
  const agent = await startAgent();
  const proc = await agent.client.exec({ argv: ["sleep", "100"], env: ENV });
  (agent.child.stdio[3] as Duplex).write(encodeFrame(0x42 as MessageType, RAW_ID));
  await assert.rejects(proc.exited, { code: "agent_gone" });
  assert.deepEqual(await agent.exit, { code: 2, signal: null });
});

test("the agent drops the connection on a frame length out of range", T, async () => {
  const agent = await startAgent();
  const header = Buffer.alloc(9);
  header.writeUInt32BE(MAX_FRAME_LENGTH + 1, 0);
  (agent.child.stdio[3] as Duplex).write(header);
  await agent.client.closed;
  assert.deepEqual(await agent.exit, { code: 2, signal: null });
});

test("the agent drops the connection on STDIN beyond the window", T, async () => {
  const agent = await startAgent();
  const raw = agent.child.stdio[3] as Duplex;
  const exec = encodeExec({
    stdin: true,
    cwd: "",
    argv: ["sleep", "100"],
    env: [],
    uid: 0xffff_ffff,
    gid: 0xffff_ffff,
  });
  raw.write(encodeFrame(MessageType.Exec, RAW_ID, exec));
  // sleep never reads: the agent keeps 64 KiB at most, and more is a violation.
  for (let i = 0; i < 3; i++)
    raw.write(encodeFrame(MessageType.Stdin, RAW_ID, Buffer.alloc(60_000)));
  await agent.client.closed;
  assert.deepEqual(await agent.exit, { code: 2, signal: null });
});
