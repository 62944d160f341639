import assert from "node:assert/strict";
import { test } from "node:test";
import {
  buildAnswer,
  buildQuery,
  type DnsQuery,
  errorAnswer,
  parseQuery,
  parseResponse,
  RCODE,
} from "./dns-message.ts";

const query = (name: string) => {
  const msg = buildQuery(0x1234, name);
  const q = parseQuery(msg) as DnsQuery;
  return { msg, q };
};

test("parseQuery() reads the single question, lower-casing the name", () => {
  const { q } = query("API.Example.com");
  assert.deepEqual(q, { id: 0x1234, name: "api.example.com", type: 1, questionEnd: 12 + 17 + 4 });
});

test("parseQuery() accepts one EDNS OPT record and nothing else", () => {
  const opt = Buffer.from([0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
  const msg = Buffer.concat([buildQuery(7, "example.com"), opt]);
  msg.writeUInt16BE(1, 10);
  assert.equal((parseQuery(msg) as DnsQuery).name, "example.com");
  const trailing = Buffer.concat([msg, Buffer.from([0])]);
  assert.deepEqual(parseQuery(trailing), { id: 7, rcode: RCODE.FORMERR });
});

test("parseQuery() refuses what it cannot check safely", () => {
  const { msg } = query("example.com");
  const twoQuestions = Buffer.from(msg);
  twoQuestions.writeUInt16BE(2, 4);
  assert.deepEqual(parseQuery(twoQuestions), { id: 0x1234, rcode: RCODE.FORMERR });
  const update = Buffer.from(msg);
  update.writeUInt16BE(0x2800, 2); // opcode 5 (UPDATE)
  assert.deepEqual(parseQuery(update), { id: 0x1234, rcode: RCODE.REFUSED });
  const dotted = buildQuery(1, "x");
  const withDot = Buffer.concat([
    dotted.subarray(0, 12),
    Buffer.from([3]),
    Buffer.from("a.b"),
    dotted.subarray(14),
  ]);
  assert.deepEqual(parseQuery(withDot), { id: 1, rcode: RCODE.REFUSED }, "a dot inside a label");
  const compressed = Buffer.concat([msg.subarray(0, 12), Buffer.from([0xc0, 12, 0, 1, 0, 1])]);
  assert.deepEqual(parseQuery(compressed), { id: 0x1234, rcode: RCODE.FORMERR });
  assert.equal(parseQuery(Buffer.alloc(5)), undefined, "too short");
  const response = Buffer.from(msg);
  response.writeUInt16BE(0x8180, 2);
  assert.equal(parseQuery(response), undefined, "a response");
});

test("errorAnswer() answers with the question and the rcode", () => {
  const { msg, q } = query("blocked.test");
  const res = parseResponse(errorAnswer(msg, RCODE.NXDOMAIN, q.questionEnd));
  assert.deepEqual(res, {
    id: 0x1234,
    rcode: 3,
    truncated: false,
    name: "blocked.test",
    type: 1,
    a: [],
  });
});

test("parseResponse() reads A records, following name compression", () => {
  const { msg, q } = query("www.example.com");
  const answer = buildAnswer(msg, q, [
    { address: "192.0.2.1", ttl: 30 },
    { address: "192.0.2.2", ttl: 300 },
  ]);
  assert.deepEqual(parseResponse(answer)?.a, [
    { address: "192.0.2.1", ttl: 30 },
    { address: "192.0.2.2", ttl: 300 },
  ]);
  assert.equal(parseResponse(answer.subarray(0, answer.length - 3)), undefined, "truncated rdata");
  const loop = Buffer.from(answer);
  loop.writeUInt16BE(0xc000 | q.questionEnd, q.questionEnd); // a pointer to itself
  assert.equal(parseResponse(loop), undefined, "a compression loop");
});
