/**
 * The sandbox agent protocol (docs/agent-protocol.md): message types, frame encoding
 * and a streaming decoder, payload codecs, and (re-exported) Linux errno names. Pure: no I/O.
 */

export { errnoName, errnoNumber } from "./errno.ts";

export const PROTOCOL_VERSION = 2;
/** Largest value of a frame's length field (type + id + payload). */
export const MAX_FRAME_LENGTH = 1024 * 1024 + 5;
/** u32 length, u8 type, u32 id. */
export const HEADER_LENGTH = 9;
/** Output bytes (per stream) the agent may send before the daemon grants more. */
export const OUTPUT_WINDOW = 256 * 1024;
/** STDIN bytes the daemon may send before the agent acknowledges them. */
export const STDIN_WINDOW = 64 * 1024;
/** Largest STDIN payload the daemon sends. */
export const MAX_CHUNK = 64 * 1024;
/** Largest FS_DATA payload either side sends. */
export const FILE_CHUNK = 256 * 1024;
/** FS_DATA bytes of an FS_READ the agent may send before the daemon grants more. */
export const FILE_WINDOW = 1024 * 1024;
/** EXEC uid/gid value meaning "the agent's own". */
export const ID_KEEP = 0xffff_ffff;

export const MessageType = {
  Exec: 0x01,
  Stdin: 0x02,
  StdinClose: 0x03,
  Signal: 0x04,
  Window: 0x05,
  FsRead: 0x10,
  FsWrite: 0x11,
  FsData: 0x12,
  FsEnd: 0x13,
  FsStat: 0x14,
  FsReadDir: 0x15,
  FsMkdir: 0x16,
  FsRemove: 0x17,
  FsRename: 0x18,
  FsChmod: 0x19,
  Ready: 0x80,
  Started: 0x81,
  Stdout: 0x82,
  Stderr: 0x83,
  Exit: 0x84,
  StdinWindow: 0x85,
  Ok: 0x8c,
  Stat: 0x8d,
  Dirents: 0x8e,
  Error: 0x8f,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

const KNOWN_TYPES: ReadonlySet<number> = new Set(Object.values(MessageType));

export const ExecFlags = { Stdin: 1 } as const;
export const WriteFlags = { Create: 1, Truncate: 2, Append: 4, Exclusive: 8 } as const;
export const StatFlags = { NoFollow: 1 } as const;
export const MkdirFlags = { Recursive: 1 } as const;
export const RemoveFlags = { Recursive: 1 } as const;

/** A decoded frame; `payload` may be a view into the decoder's input. */
export interface Frame {
  type: MessageType;
  id: number;
  payload: Buffer;
}

/** The peer broke the framing or a payload's layout. The connection cannot go on. */
export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProtocolError";
  }

  /** A frame of `type` that is no valid answer to the request described by `what`. */
  static unexpected(type: number, what: string): ProtocolError {
    return new ProtocolError(`Unexpected message 0x${type.toString(16)} answering: ${what}`);
  }
}

export function encodeFrame(type: MessageType, id: number, payload?: Uint8Array): Buffer {
  const size = payload?.length ?? 0;
  if (size + 5 > MAX_FRAME_LENGTH) {
    throw new RangeError(`A frame payload of ${size} bytes exceeds the protocol's 1 MiB`);
  }
  const frame = Buffer.allocUnsafe(HEADER_LENGTH + size);
  frame.writeUInt32BE(size + 5, 0);
  frame.writeUInt8(type, 4);
  frame.writeUInt32BE(id, 5);
  if (payload) frame.set(payload, HEADER_LENGTH);
  return frame;
}

/**
 * Splits a byte stream into frames, whatever the chunking. Throws {@link ProtocolError}
 * on a length out of range or an unknown type; the decoder is unusable afterwards.
 *
 * @example
 * const decoder = new FrameDecoder();
 * socket.on("data", (chunk) => { for (const frame of decoder.push(chunk)) handle(frame); });
 */
export class FrameDecoder {
  #chunks: Buffer[] = [];
  #buffered = 0;

  push(chunk: Buffer): Frame[] {
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
    }
    const frames: Frame[] = [];
    while (this.#buffered >= 4) {
      const length = this.#peek(4).readUInt32BE(0);
      if (length < 5 || length > MAX_FRAME_LENGTH) {
        throw new ProtocolError(`Frame length ${length} is outside 5..${MAX_FRAME_LENGTH}`);
      }
      if (this.#buffered < 4 + length) break;
      const bytes = this.#take(4 + length);
      const type = bytes.readUInt8(4);
      if (!KNOWN_TYPES.has(type)) {
        throw new ProtocolError(`Unknown message type 0x${type.toString(16)}`);
      }
      frames.push({
        type: type as MessageType,
        id: bytes.readUInt32BE(5),
        payload: bytes.subarray(HEADER_LENGTH),
      });
    }
    return frames;
  }

  /** Bytes received that do not form a complete frame yet. */
  get buffered(): number {
    return this.#buffered;
  }

  #peek(n: number): Buffer {
    const first = this.#chunks[0]!;
    if (first.length >= n) return first;
    const joined = Buffer.concat(this.#chunks);
    this.#chunks = [joined];
    return joined;
  }

  #take(n: number): Buffer {
    const first = this.#chunks[0]!;
    let taken: Buffer;
    if (first.length >= n) {
      taken = first.subarray(0, n);
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
    } else {
      const joined = Buffer.concat(this.#chunks);
      taken = joined.subarray(0, n);
      this.#chunks = joined.length > n ? [joined.subarray(n)] : [];
    }
    this.#buffered -= n;
    return taken;
  }
}

/** Builds a payload from the protocol's field encodings. */
export class PayloadWriter {
  #parts: Buffer[] = [];

  u32(value: number): this {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32BE(value >>> 0, 0);
    this.#parts.push(b);
    return this;
  }

  str(value: string): this {
    const bytes = Buffer.from(value, "utf8");
    return this.u32(bytes.length).bytes(bytes);
  }

  strList(values: readonly string[]): this {
    this.u32(values.length);
    for (const v of values) this.str(v);
    return this;
  }

  bytes(value: Uint8Array): this {
    this.#parts.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
    return this;
  }

  finish(): Buffer {
    return Buffer.concat(this.#parts);
  }
}

/** Reads payload fields; throws {@link ProtocolError} past the end. */
export class PayloadReader {
  #buf: Buffer;
  #pos = 0;

  constructor(payload: Buffer) {
    this.#buf = payload;
  }

  #need(n: number): number {
    if (this.#buf.length - this.#pos < n) {
      throw new ProtocolError(`Payload too short: needs ${n} more bytes at offset ${this.#pos}`);
    }
    const at = this.#pos;
    this.#pos += n;
    return at;
  }

  u8(): number {
    return this.#buf.readUInt8(this.#need(1));
  }

  u32(): number {
    return this.#buf.readUInt32BE(this.#need(4));
  }

  i32(): number {
    return this.#buf.readInt32BE(this.#need(4));
  }

  u64(): number {
    return Number(this.#buf.readBigUInt64BE(this.#need(8)));
  }

  i64(): number {
    return Number(this.#buf.readBigInt64BE(this.#need(8)));
  }

  str(): string {
    const n = this.u32();
    const at = this.#need(n);
    return this.#buf.toString("utf8", at, at + n);
  }

  rest(): Buffer {
    const at = this.#need(0);
    this.#pos = this.#buf.length;
    return this.#buf.subarray(at);
  }

  /** Throws unless every byte was read. */
  end(): void {
    if (this.#pos !== this.#buf.length) {
      throw new ProtocolError(`Payload has ${this.#buf.length - this.#pos} unexpected bytes`);
    }
  }
}

export interface ExecRequest {
  stdin: boolean;
  cwd: string;
  argv: readonly string[];
  env: readonly string[];
  uid: number;
  gid: number;
}

export function encodeExec(req: ExecRequest): Buffer {
  return new PayloadWriter()
    .u32(req.stdin ? ExecFlags.Stdin : 0)
    .str(req.cwd)
    .strList(req.argv)
    .strList(req.env)
    .u32(req.uid)
    .u32(req.gid)
    .finish();
}

export function decodeExec(payload: Buffer): ExecRequest {
  const r = new PayloadReader(payload);
  const flags = r.u32();
  const cwd = r.str();
  const list = () => Array.from({ length: r.u32() }, () => r.str());
  const argv = list();
  const env = list();
  const req = {
    stdin: (flags & ExecFlags.Stdin) !== 0,
    cwd,
    argv,
    env,
    uid: r.u32(),
    gid: r.u32(),
  };
  r.end();
  return req;
}

/** `code` is -1 and `signal` non-zero when the process was killed. */
export function decodeExit(payload: Buffer): { code: number; signal: number } {
  const r = new PayloadReader(payload);
  const exit = { code: r.i32(), signal: r.i32() };
  r.end();
  return exit;
}

export function decodeError(payload: Buffer): { errno: number; message: string } {
  const r = new PayloadReader(payload);
  const error = { errno: r.i32(), message: r.str() };
  r.end();
  return error;
}

export function decodeU32(payload: Buffer): number {
  const r = new PayloadReader(payload);
  const v = r.u32();
  r.end();
  return v;
}

export interface RawStat {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtimeMs: number;
  atimeMs: number;
  ctimeMs: number;
  nlink: number;
  linkTarget: string;
}

export function decodeStat(payload: Buffer): RawStat {
  const r = new PayloadReader(payload);
  const stat = {
    mode: r.u32(),
    uid: r.u32(),
    gid: r.u32(),
    size: r.u64(),
    mtimeMs: r.i64(),
    atimeMs: r.i64(),
    ctimeMs: r.i64(),
    nlink: r.u64(),
    linkTarget: r.str(),
  };
  r.end();
  return stat;
}

/** DIRENTS entry types: 1 file, 2 directory, 3 symlink, 4 other. */
export function decodeDirents(payload: Buffer): { type: number; name: string }[] {
  const r = new PayloadReader(payload);
  const count = r.u32();
  // Each entry takes at least 5 bytes: bound the count before trusting it.
  if (count > payload.length / 5) throw new ProtocolError(`DIRENTS count ${count} is too large`);
  const entries = Array.from({ length: count }, () => ({ type: r.u8(), name: r.str() }));
  r.end();
  return entries;
}
