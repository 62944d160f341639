/** Byte helpers that work with Node's Buffer when present and plain web APIs otherwise. */

interface BufferLike {
  from(data: string, encoding: "base64"): Uint8Array;
  from(data: Uint8Array): { toString(encoding: "base64"): string };
}

const NodeBuffer = (globalThis as { Buffer?: BufferLike }).Buffer;
const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Decodes base64 into bytes. */
export function fromBase64(text: string): Uint8Array {
  if (NodeBuffer) {
    const b = NodeBuffer.from(text, "base64");
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  }
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Encodes bytes as base64. */
export function toBase64(bytes: Uint8Array): string {
  if (NodeBuffer) return NodeBuffer.from(bytes).toString("base64");
  let bin = "";
  // Chunked: String.fromCharCode(...hugeArray) overflows the call stack.
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}

/** UTF-8 decoding, replacing invalid sequences. */
export function utf8(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/** UTF-8 encoding. */
export function encodeUtf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Joins chunks into one array. */
export function concatBytes(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}

/**
 * A web byte stream that `for await` can walk, as every stream in Node and modern browsers
 * can (TypeScript's DOM types do not say so yet).
 */
export type ByteStream = ReadableStream<Uint8Array> & AsyncIterable<Uint8Array>;

/** Yields a stream's chunks. */
export async function* chunksOf(stream: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
}

/** Reads a stream to the end. */
export async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of chunksOf(stream)) chunks.push(chunk);
  return concatBytes(chunks);
}

/** Linux signal numbers, for the shell convention that a signal's exit code is 128 + n. */
const SIGNALS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGXCPU: 24,
  SIGXFSZ: 25,
};

/** The exit code a shell reports for a status: the code itself, or 128 + the signal's number. */
export function shellCode(exitCode: number | null, signal: string | null): number {
  if (exitCode !== null) return exitCode;
  return 128 + (signal ? (SIGNALS[signal] ?? 0) : 0);
}
