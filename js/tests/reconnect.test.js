// Reconnection: which answers end a subscription and which are retried, the
// backoff between attempts (with fake timers), the server's retry: and
// Last-Event-ID on the way back. The server is a real HTTP server on
// loopback whose answers each test scripts, one per request, since herald
// itself cannot be made to answer 408 or 502 on demand.
import { test, mock } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { once } from "node:events";

import { subscribe, reconnectDelay, DEFAULT_RETRY, DEFAULT_MAX_DELAY } from "../herald.js";
import { recorder } from "./helpers.js";

// scripted starts a server that answers its nth request with script[n]
// (the last one again past the end) and records each request.
async function scripted(t, script) {
  const requests = [];
  const server = createServer((req, res) => {
    const answer = script[Math.min(requests.length, script.length - 1)];
    requests.push({ url: req.url, headers: req.headers });
    answer(req, res);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${server.address().port}/events`, requests };
}

const status = (code, body, headers = {}) => (req, res) => {
  res.writeHead(code, { "Content-Type": "application/json", ...headers });
  res.end(body === undefined ? undefined : JSON.stringify(body));
};
const stream = (text) => (req, res) => {
  res.writeHead(200, { "Content-Type": "text/event-stream" });
  res.end(text);
};
const noContent = status(204);

test("answers that end a subscription, and answers that are retried", async (t) => {
  const cases = [
    { name: "204 No Content: the server says stop", answer: noContent, retried: false, error: null },
    { name: "400 with herald's error", answer: status(400, { error: "invalid topic: a//b" }), retried: false, error: /400 Bad Request: invalid topic: a\/\/b$/ },
    { name: "401", answer: status(401, { error: "a token is needed" }), retried: false, error: /401 Unauthorized: a token is needed$/ },
    { name: "403", answer: status(403, { error: "not allowed" }), retried: false, error: /403/ },
    { name: "404 without a JSON body", answer: (req, res) => res.writeHead(404, { "Content-Type": "text/plain" }).end("no such thing"), retried: false, error: /404 Not Found: no such thing$/ },
    { name: "200 that is not an event stream", answer: status(200, { hello: 1 }), retried: false, error: /not an event stream \(Content-Type application\/json\)/ },
    { name: "408 Request Timeout", answer: status(408, { error: "slow" }), retried: true },
    { name: "429 Too Many Requests", answer: status(429, { error: "too many open streams" }), retried: true },
    { name: "500", answer: status(500, { error: "boom" }), retried: true },
    { name: "502 from a proxy, HTML", answer: (req, res) => res.writeHead(502, { "Content-Type": "text/html" }).end("<h1>Bad Gateway</h1>"), retried: true },
    { name: "503", answer: status(503, { error: "shutting down" }), retried: true },
    { name: "a connection closed without an answer", answer: (req) => req.socket.destroy(), retried: true },
  ];
  for (const c of cases) {
    await t.test(c.name, async (t) => {
      // Retried answers get a 204 next, which ends the subscription.
      const server = await scripted(t, [c.answer, noContent]);
      const { rec, options } = recorder({ retry: 5 });
      const sub = subscribe(server.url, "a", options);
      t.after(() => sub.close());
      const err = await sub.closed;
      assert.equal(server.requests.length, c.retried ? 2 : 1, rec.log.join("\n"));
      if (c.retried) {
        assert.equal(err, null, "ended by the 204 after it");
        assert.deepEqual(rec.states, ["connecting", "reconnecting", "closed"]);
        assert.equal(rec.errors.length, 1, "the failed attempt is reported");
      } else if (c.error === null) {
        assert.equal(err, null);
        assert.deepEqual(rec.states, ["connecting", "closed"]);
      } else {
        assert.match(err.message, c.error);
        assert.deepEqual(rec.states, ["connecting", "closed"]);
        assert.deepEqual(rec.errors, [err]);
      }
    });
  }
});

test("a stream that ends: reconnect after the server's retry, with Last-Event-ID, and the parser starts clean", async (t) => {
  const server = await scripted(t, [
    stream("retry: 30\nid: 7\ndata: one\n\nid: 8\ndata: unfinished"),
    stream("data: two\n\n"),
    noContent,
  ]);
  const { rec, options } = recorder();
  const sub = subscribe(server.url, ["a/*", "b"], options);
  t.after(() => sub.close());
  assert.equal(await sub.closed, null);
  assert.deepEqual(rec.events, [
    { type: "message", data: "one", lastEventId: "7" },
    { type: "message", data: "two", lastEventId: "7" },
  ]);
  assert.equal(server.requests[0].url, "/events?topic=a%2F*&topic=b");
  assert.equal(server.requests[0].headers["last-event-id"], undefined);
  assert.equal(server.requests[1].headers["last-event-id"], "7", "the unfinished event's ID was not committed");
  assert.equal(server.requests[2].headers["last-event-id"], "7");
  assert.equal(server.requests[0].headers.accept, "text/event-stream");
  assert.deepEqual(rec.states, ["connecting", "open", "reconnecting", "open", "reconnecting", "closed"]);
});

test("a line longer than maxSize: reported, and the subscription resumes after the last whole event", async (t) => {
  const server = await scripted(t, [stream(`id: 1\ndata: ok\n\ndata: ${"x".repeat(100)}\n\n`), stream("id: 2\ndata: after\n\n"), noContent]);
  const { rec, options } = recorder({ retry: 5, maxSize: 64 });
  const sub = subscribe(server.url, "a", options);
  t.after(() => sub.close());
  await sub.closed;
  assert.deepEqual(rec.events.map((e) => e.data), ["ok", "after"]);
  assert.equal(rec.errors[0].code, "too_large");
  assert.equal(server.requests[1].headers["last-event-id"], "1");
});

test("headers and a token go on every request", async (t) => {
  const server = await scripted(t, [status(503, { error: "later" }), noContent]);
  let n = 0;
  const sub = subscribe(server.url, "a", { retry: 5, token: () => `tok${++n}`, headers: { "X-Client": "test" } });
  t.after(() => sub.close());
  await sub.closed;
  assert.deepEqual(server.requests.map((r) => [r.headers.authorization, r.headers["x-client"]]), [["Bearer tok1", "test"], ["Bearer tok2", "test"]]);
});

test("reconnectDelay: the retry after an open stream, doubling after failures, capped, jittered up by half", () => {
  assert.equal(DEFAULT_RETRY, 3000);
  assert.equal(DEFAULT_MAX_DELAY, 30000);
  const table = [
    // retry, failures, maxDelay, base
    [1000, 0, 30000, 1000],
    [1000, 1, 30000, 1000],
    [1000, 2, 30000, 2000],
    [1000, 3, 30000, 4000],
    [1000, 6, 30000, 30000],
    [1000, 60, 30000, 30000],
    [60000, 3, 30000, 60000], // the server's retry beats the ceiling
    [0, 0, 30000, 0], // retry: 0 after an open stream: at once
    [0, 2, 30000, 200], // but never a busy loop on failures
  ];
  for (const [retry, failures, max, base] of table) {
    assert.equal(reconnectDelay(retry, failures, max, () => 0), base, `${retry} ms, ${failures} failures: least`);
    assert.equal(reconnectDelay(retry, failures, max, () => 0.999999), Math.round(base * 1.5), `${retry} ms, ${failures} failures: most`);
  }
  assert.equal(reconnectDelay(1e12, 0, 30000, () => 0), 2 ** 31 - 1, "within what setTimeout can wait");
});

test("backoff timing with fake timers: each attempt waits its delay, no sooner", async (t) => {
  mock.timers.enable({ apis: ["setTimeout"] });
  t.after(() => mock.timers.reset());
  const server = await scripted(t, [status(503, { error: "down" })]);
  let calls = 0;
  const counted = (...args) => {
    calls++;
    return fetch(...args);
  };
  const delays = [];
  let waiting = null;
  const sub = subscribe(server.url, "a", {
    retry: 1000,
    maxDelay: 4000,
    fetch: counted,
    onState: (state, info) => {
      if (state === "reconnecting") {
        delays.push(info.delay);
        waiting?.();
      }
    },
  });
  t.after(() => sub.close());
  const nextWait = () => new Promise((resolve) => (waiting = resolve));
  for (const base of [1000, 2000, 4000, 4000]) {
    await nextWait();
    const delay = delays.at(-1);
    assert.ok(delay >= base && delay <= base * 1.5, `delay ${delay}, want ${base} to ${base * 1.5}`);
    const before = calls;
    mock.timers.tick(delay - 1);
    assert.equal(calls, before, `no attempt before ${delay} ms`);
    mock.timers.tick(1);
    assert.equal(calls, before + 1, `an attempt at ${delay} ms`);
  }
  sub.close();
  assert.equal(sub.state, "closed");
});

test("Retry-After on a 429 is waited for at least", async (t) => {
  mock.timers.enable({ apis: ["setTimeout"] });
  t.after(() => mock.timers.reset());
  const server = await scripted(t, [status(429, { error: "slow down" }, { "Retry-After": "7" })]);
  let sub;
  const info = await new Promise((resolve) => {
    sub = subscribe(server.url, "a", { retry: 10, onState: (s, i) => s === "reconnecting" && resolve(i) });
  });
  t.after(() => sub.close());
  assert.ok(info.delay >= 7000, `delay ${info.delay}, want at least 7 s`);
  assert.equal(info.status, 429);
  assert.equal(info.error.status, 429);
  mock.timers.tick(6999);
  assert.equal(server.requests.length, 1);
});

test("close while waiting to reconnect: no attempt follows, no callback after closed", async (t) => {
  mock.timers.enable({ apis: ["setTimeout"] });
  t.after(() => mock.timers.reset());
  const server = await scripted(t, [status(503, { error: "down" })]);
  const states = [];
  let resolve;
  let calls = 0;
  const waited = new Promise((r) => (resolve = r));
  const sub = subscribe(server.url, "a", {
    retry: 1000,
    fetch: (...args) => (calls++, fetch(...args)),
    onState: (s) => {
      states.push(s);
      if (s === "reconnecting") {
        resolve();
      }
    },
  });
  await waited;
  sub.close();
  mock.timers.tick(60000);
  await new Promise((r) => setImmediate(r)); // any attempt would have begun
  assert.equal(calls, 1);
  assert.equal(server.requests.length, 1);
  assert.deepEqual(states, ["connecting", "reconnecting", "closed"]);
});

test("herald's own events never reach onEvent; malformed ones are reported; events picks the types", async (t) => {
  const server = await scripted(t, [
    stream([
      'event: herald:gap\ndata: {"lastEventId":"9-9","reason":"unknown"}\n\n',
      "id: 1\nevent: note\ndata: kept\n\n",
      "id: 2\ndata: not listed\n\n",
      "event: herald:replayed\ndata: nope\n\n",
      'event: herald:replayed\ndata: {"count":-1}\n\n',
      'event: herald:replayed\ndata: {"count":1}\n\n',
    ].join("")),
    noContent,
  ]);
  const { rec, options } = recorder({ retry: 5, events: ["note"] });
  const sub = subscribe(server.url, "a", options);
  t.after(() => sub.close());
  await sub.closed;
  assert.deepEqual(rec.gaps, [{ lastEventId: "9-9", reason: "unknown" }]);
  assert.deepEqual(rec.events, [{ type: "note", data: "kept", lastEventId: "1" }]);
  assert.deepEqual(rec.replayed, [1]);
  assert.equal(sub.lastEventId, "2", "an event not delivered still moves the ID");
  assert.deepEqual(rec.errors.map((e) => e.code), ["bad_json", "bad_json"]);
  assert.equal(rec.errors[0].event.data, "nope");
});

test("a token function that fails is a failed attempt, retried", async (t) => {
  const server = await scripted(t, [stream("id: 1\ndata: in\n\n"), noContent]);
  let calls = 0;
  const { rec, options } = recorder({
    retry: 5,
    token: async () => {
      if (++calls === 1) {
        throw new Error("login service down");
      }
      return "tok";
    },
  });
  const sub = subscribe(server.url, "a", options);
  t.after(() => sub.close());
  await sub.closed;
  assert.equal(rec.errors[0].message, "login service down");
  assert.deepEqual(rec.events.map((e) => e.data), ["in"]);
  assert.equal(server.requests[0].headers.authorization, "Bearer tok");
});
