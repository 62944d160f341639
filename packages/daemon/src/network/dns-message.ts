/**
 * The little of the DNS wire format (RFC 1035) the forwarder needs: read a query's single
 * question strictly, build error answers, and read the A records of a response. Pure.
 */

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 } as const;
export const TYPE_A = 1;
const TYPE_OPT = 41;
const CLASS_IN = 1;

/** A query the forwarder accepts: one question, nothing but an optional EDNS OPT record. */
export interface DnsQuery {
  id: number;
  /** Lower case, dot-separated, no trailing dot ("" for the root). */
  name: string;
  type: number;
  /** Offset just past the question, to copy it into answers. */
  questionEnd: number;
}

/**
 * Reads a query. Returns `undefined` for something that is not a query at all (too short,
 * or a response: ignore it), and an rcode for a query the forwarder will not handle.
 *
 * Parsing is strict — no compression in the question, exactly the records announced, no
 * trailing bytes, no "." inside a label — so the name checked against the policy is the
 * very name the upstream resolver will look up.
 */
export function parseQuery(msg: Uint8Array): DnsQuery | { id: number; rcode: number } | undefined {
  if (msg.length < 12) return undefined;
  const v = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  const id = v.getUint16(0);
  const flags = v.getUint16(2);
  if (flags & 0x8000) return undefined;
  const opcode = (flags >> 11) & 0xf;
  if (opcode !== 0) return { id, rcode: RCODE.REFUSED };
  const [qd, an, ns, ar] = [v.getUint16(4), v.getUint16(6), v.getUint16(8), v.getUint16(10)];
  if (qd !== 1 || an !== 0 || ns !== 0 || ar > 1) return { id, rcode: RCODE.FORMERR };
  const labels: string[] = [];
  let off = 12;
  for (;;) {
    if (off >= msg.length) return { id, rcode: RCODE.FORMERR };
    const len = msg[off]!;
    off++;
    if (len === 0) break;
    if (len > 63 || off + len > msg.length) return { id, rcode: RCODE.FORMERR };
    const label = Buffer.from(msg.subarray(off, off + len))
      .toString("latin1")
      .toLowerCase();
    if (label.includes(".")) return { id, rcode: RCODE.REFUSED };
    labels.push(label);
    off += len;
  }
  if (off + 4 > msg.length) return { id, rcode: RCODE.FORMERR };
  const type = v.getUint16(off);
  const klass = v.getUint16(off + 2);
  const questionEnd = off + 4;
  if (klass !== CLASS_IN) return { id, rcode: RCODE.REFUSED };
  off = questionEnd;
  if (ar === 1) {
    // The OPT pseudo-record: root name, type 41, then class, TTL, rdlength, rdata.
    if (off + 11 > msg.length || msg[off] !== 0 || v.getUint16(off + 1) !== TYPE_OPT)
      return { id, rcode: RCODE.FORMERR };
    off += 11 + v.getUint16(off + 9);
  }
  if (off !== msg.length) return { id, rcode: RCODE.FORMERR };
  return { id, name: labels.join("."), type, questionEnd };
}

/** An answer with only a header (and the question, when there is one) and `rcode`. */
export function errorAnswer(query: Uint8Array, rcode: number, questionEnd?: number): Buffer {
  const out = Buffer.alloc(questionEnd ?? 12);
  Buffer.from(query.subarray(0, out.length)).copy(out);
  const rd = out.readUInt16BE(2) & 0x0100;
  out.writeUInt16BE(0x8000 | rd | 0x0080 | rcode, 2); // QR, RD as asked, RA
  out.writeUInt16BE(questionEnd === undefined ? 0 : 1, 4);
  out.writeUInt32BE(0, 6);
  out.writeUInt16BE(0, 10);
  return out;
}

/** What the forwarder needs from a response. */
export interface DnsResponse {
  id: number;
  rcode: number;
  truncated: boolean;
  name: string;
  type: number;
  /** A records of the answer section (CNAME targets' included). */
  a: { address: string; ttl: number }[];
}

/** Reads a response; `undefined` when it is malformed. */
export function parseResponse(msg: Uint8Array): DnsResponse | undefined {
  if (msg.length < 12) return undefined;
  const v = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  const flags = v.getUint16(2);
  if (!(flags & 0x8000)) return undefined;
  const qd = v.getUint16(4);
  const an = v.getUint16(6);
  if (qd !== 1) return undefined;
  const q = readName(msg, 12);
  if (!q || q.end + 4 > msg.length) return undefined;
  const res: DnsResponse = {
    id: v.getUint16(0),
    rcode: flags & 0xf,
    truncated: (flags & 0x0200) !== 0,
    name: q.name,
    type: v.getUint16(q.end),
    a: [],
  };
  let off = q.end + 4;
  for (let i = 0; i < an; i++) {
    const n = readName(msg, off);
    if (!n || n.end + 10 > msg.length) return undefined;
    const type = v.getUint16(n.end);
    const klass = v.getUint16(n.end + 2);
    const ttl = v.getUint32(n.end + 4);
    const rdlen = v.getUint16(n.end + 8);
    const rdata = n.end + 10;
    if (rdata + rdlen > msg.length) return undefined;
    if (type === TYPE_A && klass === CLASS_IN && rdlen === 4)
      res.a.push({ address: [...msg.subarray(rdata, rdata + 4)].join("."), ttl });
    off = rdata + rdlen;
  }
  return res;
}

/** Reads a possibly compressed name; `end` is where the record continues. */
function readName(msg: Uint8Array, start: number): { name: string; end: number } | undefined {
  const labels: string[] = [];
  let off = start;
  let end: number | undefined;
  for (let jumps = 0; jumps < 64; ) {
    if (off >= msg.length) return undefined;
    const len = msg[off]!;
    if (len === 0) return { name: labels.join("."), end: end ?? off + 1 };
    if ((len & 0xc0) === 0xc0) {
      if (off + 1 >= msg.length) return undefined;
      end ??= off + 2;
      off = ((len & 0x3f) << 8) | msg[off + 1]!;
      jumps++;
      continue;
    }
    if (len > 63 || off + 1 + len > msg.length) return undefined;
    labels.push(
      Buffer.from(msg.subarray(off + 1, off + 1 + len))
        .toString("latin1")
        .toLowerCase(),
    );
    off += 1 + len;
  }
  return undefined;
}

/** Builds a query (tests and health checks). */
export function buildQuery(id: number, name: string, type = TYPE_A): Buffer {
  const parts = [Buffer.from([id >> 8, id & 255, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0])];
  for (const l of name.split(".").filter(Boolean))
    parts.push(Buffer.from([l.length]), Buffer.from(l));
  parts.push(Buffer.from([0, type >> 8, type & 255, 0, CLASS_IN]));
  return Buffer.concat(parts);
}

/** Builds a response with A records for a query (tests' fake upstreams). */
export function buildAnswer(
  query: Uint8Array,
  q: DnsQuery,
  records: { address: string; ttl: number }[],
  rcode: number = RCODE.NOERROR,
): Buffer {
  const head = errorAnswer(query, rcode, q.questionEnd);
  head.writeUInt16BE(records.length, 6);
  const rrs = records.map((r) => {
    const rr = Buffer.alloc(16);
    rr.writeUInt16BE(0xc00c, 0); // pointer to the question's name
    rr.writeUInt16BE(TYPE_A, 2);
    rr.writeUInt16BE(CLASS_IN, 4);
    rr.writeUInt32BE(r.ttl, 6);
    rr.writeUInt16BE(4, 10);
    Buffer.from(r.address.split(".").map(Number)).copy(rr, 12);
    return rr;
  });
  return Buffer.concat([head, ...rrs]);
}
