// The parser against the conformance vectors herald's Go decoder is held to
// (sse/testdata/spec, described in its README.md): every stream fed whole,
// a byte at a time, and split into two chunks at every position.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";

import { Parser, HeraldError, DEFAULT_MAX_SIZE } from "../herald.js";

const specDir = fileURLToPath(new URL("../../sse/testdata/spec/", import.meta.url));

// bytesOf turns a vector's input (a string, or an array of strings and
// {"bytes": "EF BB"}) into bytes.
function bytesOf(input) {
  const enc = new TextEncoder();
  if (typeof input === "string") {
    return enc.encode(input);
  }
  assert.ok(Array.isArray(input), `input must be a string or an array, got ${JSON.stringify(input)}`);
  const parts = input.map((p) => {
    if (typeof p === "string") {
      return enc.encode(p);
    }
    assert.deepEqual(Object.keys(p), ["bytes"], `input part ${JSON.stringify(p)}`);
    return Uint8Array.from(p.bytes.split(" ").map((h) => {
      assert.match(h, /^[0-9A-F]{2}$/, `hex byte ${h}`);
      return parseInt(h, 16);
    }));
  });
  return Uint8Array.from(parts.flatMap((p) => [...p]));
}

// run feeds chunks to a new parser and returns what an EventSource would
// be left with, in the vectors' terms.
function run(chunks, maxSize) {
  const events = [];
  const p = new Parser({ maxSize, onEvent: (e) => events.push(e) });
  let error;
  try {
    for (const c of chunks) {
      p.feed(c);
    }
  } catch (err) {
    error = err;
  }
  if (error) {
    // Once failed, the parser fails again with the same error.
    assert.throws(() => p.feed(new Uint8Array([0x0a])), (e) => e === error);
  }
  p.end();
  return {
    events: events.map((e) => ({ type: e.type, data: e.data, lastEventId: e.lastEventId, retry: e.retry ?? 0 })),
    lastEventId: p.lastEventId,
    retry: p.retry,
    error: error ? (error instanceof HeraldError && error.code === "too_large" ? "too large" : String(error)) : undefined,
  };
}

function expected(c) {
  return {
    events: (c.events ?? []).map((e) => ({ type: e.type ?? "message", data: e.data, lastEventId: e.lastEventId ?? "", retry: e.retry ?? 0 })),
    lastEventId: c.lastEventId ?? "",
    retry: c.retry,
    error: c.error,
  };
}

const files = readdirSync(specDir).filter((f) => f.endsWith(".json")).sort();
const names = new Set();
let total = 0;

test("the shared vectors are there", () => {
  assert.ok(files.length >= 9, `spec files: ${files}`);
});

for (const file of files) {
  const spec = JSON.parse(readFileSync(join(specDir, file), "utf8"));
  for (const key of Object.keys(spec)) {
    assert.ok(["about", "standard", "cases"].includes(key), `${file}: unknown key ${key}`);
  }
  for (const c of spec.cases) {
    total++;
    test(`${file}: ${c.name}`, () => {
      assert.ok(!names.has(c.name), `case ${c.name} is repeated`);
      names.add(c.name);
      for (const key of Object.keys(c)) {
        assert.ok(["name", "input", "events", "lastEventId", "retry", "maxSize", "error"].includes(key), `unknown key ${key}`);
      }
      const input = bytesOf(c.input);
      const want = expected(c);
      assert.deepEqual(run([input], c.maxSize), want, "fed whole");
      const bytes = [...input].map((b) => Uint8Array.of(b));
      assert.deepEqual(run(bytes, c.maxSize), want, "fed a byte at a time");
      for (let k = 1; k < input.length; k++) {
        assert.deepEqual(run([input.subarray(0, k), input.subarray(k)], c.maxSize), want, `split at ${k}`);
      }
    });
  }
}

test("every vector ran", () => {
  assert.ok(total >= 113, `${total} vectors`);
});

test("strings are fed as UTF-8", () => {
  const events = [];
  const p = new Parser({ onEvent: (e) => events.push(e) });
  p.feed("id: 7\nevent: note\ndata: héllo\n\n");
  assert.deepEqual(events, [{ type: "note", data: "héllo", lastEventId: "7" }]);
});

test("a chunk's buffer can be reused after feed", () => {
  const events = [];
  const p = new Parser({ onEvent: (e) => events.push(e.data) });
  const buf = new TextEncoder().encode("data: abc");
  p.feed(buf);
  buf.fill(0x78);
  p.feed(new TextEncoder().encode("\n\n"));
  assert.deepEqual(events, ["abc"]);
});

test("a resumed parser starts from its lastEventId and keeps it over end()", () => {
  const events = [];
  const p = new Parser({ lastEventId: "41", onEvent: (e) => events.push(e.lastEventId) });
  p.feed("data: a\n\nid: 42\ndata: b\n\nid: 43\ndata: c\n");
  p.end();
  p.feed("data: d\n\n");
  assert.deepEqual(events, ["41", "42", "42"]);
  assert.equal(p.lastEventId, "42");
});

test("comments reach onComment without their colon", () => {
  const comments = [];
  const p = new Parser({ onComment: (c) => comments.push(c) });
  p.feed(": heartbeat\n:\n:x\n");
  assert.deepEqual(comments, [" heartbeat", "", "x"]);
});

test("the default maximum size is herald's, 1 MiB", () => {
  assert.equal(DEFAULT_MAX_SIZE, 1 << 20);
  const p = new Parser();
  assert.throws(() => p.feed(new Uint8Array(DEFAULT_MAX_SIZE + 1).fill(0x61)), { code: "too_large" });
  const ok = new Parser();
  ok.feed(new Uint8Array(DEFAULT_MAX_SIZE).fill(0x61));
});
