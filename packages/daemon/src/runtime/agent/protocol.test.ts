import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import {
  decodeDirents,
  decodeError,
  decodeExec,
  decodeExit,
  decodeStat,
  encodeExec,
  encodeFrame,
  errnoName,
  errnoNumber,
  FrameDecoder,
  MAX_FRAME_LENGTH,
  MessageType,
  PayloadWriter,
  ProtocolError,
} from "./protocol.ts";

test("frames survive an encode/decode round trip, several per chunk", () => {
  const payload = randomBytes(1000);
  const bytes = Buffer.concat([
    encodeFrame(MessageType.Stdout, 7, payload),
    encodeFrame(MessageType.Ok, 0xffff_ffff),
    encodeFrame(MessageType.Exit, 1, new PayloadWriter().u32(0xffff_ffff).u32(9).finish()),
  ]);
  const frames = new FrameDecoder().push(bytes);
  assert.deepEqual(
    frames.map((f) => [f.type, f.id, f.payload.length]),
    [
      [MessageType.Stdout, 7, 1000],
      [MessageType.Ok, 0xffff_ffff, 0],
      [MessageType.Exit, 1, 8],
    ],
  );
  assert.deepEqual(frames[0]!.payload, payload);
  assert.deepEqual(decodeExit(frames[2]!.payload), { code: -1, signal: 9 });
});

test("FrameDecoder reassembles frames split at every byte boundary", () => {
  const bytes = Buffer.concat([
    encodeFrame(MessageType.FsData, 3, randomBytes(300)),
    encodeFrame(MessageType.FsEnd, 3),
  ]);
  for (let cut = 1; cut < bytes.length; cut++) {
    const decoder = new FrameDecoder();
    const frames = [...decoder.push(bytes.subarray(0, cut)), ...decoder.push(bytes.subarray(cut))];
    assert.equal(frames.length, 2, `cut at ${cut}`);
    assert.deepEqual(frames[0]!.payload, bytes.subarray(9, 309));
    assert.equal(decoder.buffered, 0);
  }
  const decoder = new FrameDecoder();
  const frames = [...bytes].flatMap((b) => decoder.push(Buffer.from([b])));
  assert.deepEqual(
    frames.map((f) => f.type),
    [MessageType.FsData, MessageType.FsEnd],
  );
});

test("FrameDecoder accepts a frame of the maximum size", () => {
  const payload = Buffer.alloc(MAX_FRAME_LENGTH - 5, 0xab);
  const bytes = encodeFrame(MessageType.Stdin, 1, payload);
  const decoder = new FrameDecoder();
  const frames = [];
  for (let at = 0; at < bytes.length; at += 65536) {
    frames.push(...decoder.push(bytes.subarray(at, at + 65536)));
  }
  assert.equal(frames.length, 1);
  assert.equal(frames[0]!.payload.length, payload.length);
});

test("FrameDecoder rejects lengths out of range and unknown types", () => {
  const header = (length: number, type: number) => {
    const b = Buffer.alloc(9);
    b.writeUInt32BE(length, 0);
    b.writeUInt8(type, 4);
    return b;
  };
  assert.throws(() => new FrameDecoder().push(header(MAX_FRAME_LENGTH + 1, 0x82)), ProtocolError);
  assert.throws(() => new FrameDecoder().push(header(0xffff_ffff, 0x82)), ProtocolError);
  assert.throws(() => new FrameDecoder().push(header(4, 0x82)), ProtocolError);
  assert.throws(() => new FrameDecoder().push(header(5, 0x42)), /Unknown message type 0x42/);
});

test("encodeFrame refuses a payload over 1 MiB", () => {
  assert.throws(
    () => encodeFrame(MessageType.Stdin, 1, Buffer.alloc(MAX_FRAME_LENGTH - 4)),
    RangeError,
  );
});

test("EXEC payloads round-trip, including UTF-8 and empty strings", () => {
  const req = {
    stdin: true,
    cwd: "/tmp/ü",
    argv: ["sh", "-c", 'echo "$X"', ""],
    env: ["X=snow ☃", "PATH=/bin"],
    uid: 1000,
    gid: 0xffff_ffff,
  };
  assert.deepEqual(decodeExec(encodeExec(req)), req);
});

test("payload decoders reject truncated and padded payloads", () => {
  const error = new PayloadWriter().u32(2).str("No such file or directory").finish();
  assert.deepEqual(decodeError(error), { errno: 2, message: "No such file or directory" });
  assert.throws(() => decodeError(error.subarray(0, error.length - 1)), ProtocolError);
  assert.throws(() => decodeError(Buffer.concat([error, Buffer.from([0])])), ProtocolError);
  assert.throws(() => decodeStat(Buffer.alloc(10)), ProtocolError);
  // A count the payload cannot hold is refused before anything is allocated.
  assert.throws(() => decodeDirents(new PayloadWriter().u32(0xffff_ffff).finish()), ProtocolError);
  const dirents = new PayloadWriter().u32(2).finish();
  const entries = Buffer.concat([dirents, Buffer.from([1]), new PayloadWriter().str("a").finish()]);
  assert.throws(() => decodeDirents(entries), ProtocolError);
});

test("errno names follow Linux x86-64 numbering", () => {
  const expected: Record<string, number> = {
    EPERM: 1,
    ENOENT: 2,
    ENOEXEC: 8,
    EACCES: 13,
    EBUSY: 16,
    EEXIST: 17,
    EXDEV: 18,
    ENOTDIR: 20,
    EISDIR: 21,
    EINVAL: 22,
    EMFILE: 24,
    ETXTBSY: 26,
    ENOSPC: 28,
    EROFS: 30,
    ENAMETOOLONG: 36,
    ENOTEMPTY: 39,
    ELOOP: 40,
    EDQUOT: 122,
  };
  for (const [name, n] of Object.entries(expected)) {
    assert.equal(errnoName(n), name);
    assert.equal(errnoNumber(name), n);
  }
  assert.equal(errnoName(4242), "E4242");
});
