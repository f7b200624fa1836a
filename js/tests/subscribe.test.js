// subscribe and publish against a real `herald serve` (built from this
// checkout, or HERALD_BIN): Node has no EventSource, so these run the
// fetch path; js/browser_test.go runs both paths in Chromium.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { subscribe, publish, HeraldError } from "../herald.js";
import { startHerald, mintToken, recorder } from "./helpers.js";

// The hub marks the end of a resumed stream's replay with herald:replayed
// {"count": N}, no id (docs/herald-js.md): herald.js reports it through
// onReplayed and Subscription.replayed, never through onEvent.

const secret = "herald-js-test-secret-0123456789abcdef";

test("subscribe and publish: events arrive in order, with their IDs, state and close", async (t) => {
  const h = await startHerald(t);
  const { rec, options, until } = recorder({ json: true, events: ["message", "note"] });
  const sub = subscribe(h.events, ["t/*"], options);
  t.after(() => sub.close());
  assert.equal(sub.state, "connecting");
  assert.equal(sub.transport, "fetch", "Node has no EventSource");
  assert.equal(sub.url, `${h.events}?topic=t%2F*`);
  await until("open", (r) => r.states.includes("open"));

  const ids = [
    await publish(h.events, "t/a", { n: 1 }),
    await publish(h.events, "t/b", "plain text"),
    await publish(h.events, "t/a", [1, "two"], { type: "note" }),
    await publish(h.events, "t/a", { skipped: true }, { type: "unlisted" }),
    await publish(h.events, "t/a", 4),
  ];
  await until("three events", (r) => r.events.length === 3);
  assert.deepEqual(rec.events, [
    { type: "message", data: { n: 1 }, lastEventId: ids[0] },
    { type: "note", data: [1, "two"], lastEventId: ids[2] },
    { type: "message", data: 4, lastEventId: ids[4] },
  ]);
  // "plain text" is not JSON: sent as is, it is reported, not delivered.
  assert.equal(rec.errors.length, 1);
  assert.equal(rec.errors[0].code, "bad_json");
  assert.equal(rec.errors[0].event.data, "plain text");
  assert.equal(sub.lastEventId, ids[4]);
  assert.equal(sub.replayed, null, "a fresh subscription replays nothing");

  sub.close();
  assert.equal(sub.state, "closed");
  assert.equal(await sub.closed, null);
  assert.deepEqual(rec.states, ["connecting", "open", "closed"]);
  sub.close(); // twice is fine
  assert.deepEqual(rec.states, ["connecting", "open", "closed"]);
});

test('events: "*" delivers every type; without json, data stays text', async (t) => {
  const h = await startHerald(t);
  const { rec, options, until } = recorder({ events: "*" });
  const sub = subscribe(h.events, "t/x", options);
  t.after(() => sub.close());
  await until("open", (r) => r.states.includes("open"));
  await publish(h.events, "t/x", { a: 1 }, { type: "one" });
  await publish(h.events, "t/x", "two", { type: "two" });
  await until("two events", (r) => r.events.length === 2);
  assert.deepEqual(rec.events.map((e) => [e.type, e.data]), [["one", '{"a":1}'], ["two", "two"]]);
});

test("resume after an ID: the history replays, then live events, with the replay count", async (t) => {
  const h = await startHerald(t);
  const ids = [];
  for (let i = 1; i <= 5; i++) {
    ids.push(await publish(h.events, "seq/a", String(i)));
  }
  const { rec, options, until } = recorder();
  const sub = subscribe(h.events, ["seq/*"], { ...options, lastEventId: ids[1] });
  t.after(() => sub.close());
  await until("three replayed events", (r) => r.events.length === 3);
  await until("the replay count", (r) => r.replayed.length === 1);
  assert.deepEqual(rec.events.map((e) => e.data), ["3", "4", "5"]);
  assert.deepEqual(rec.replayed, [3]);
  assert.equal(sub.replayed, 3);
  // The count comes after the replayed events and does not move the ID.
  assert.deepEqual(rec.log.filter((l) => !l.startsWith("state")).slice(-1), ["replayed 3"]);
  assert.equal(sub.lastEventId, ids[4]);
  await publish(h.events, "seq/a", "6");
  await until("the live event", (r) => r.events.length === 4);
  assert.equal(rec.events[3].data, "6");
});

test("from=start: a late subscriber gets the topic's history, then live events", async (t) => {
  const h = await startHerald(t);
  for (let i = 1; i <= 3; i++) {
    await publish(h.events, "tasks/42", String(i));
  }
  const { rec, options, until } = recorder();
  const sub = subscribe(`${h.events}?from=start`, "tasks/42", options);
  t.after(() => sub.close());
  await until("the history and its count", (r) => r.events.length === 3 && r.replayed.length === 1);
  assert.deepEqual(rec.events.map((e) => e.data), ["1", "2", "3"]);
  assert.deepEqual(rec.replayed, [3]);
  await publish(h.events, "tasks/42", "4");
  await until("the live event", (r) => r.events.length === 4);
  assert.equal(rec.events[3].data, "4");
});

test("a resumed stream with nothing to replay says 0", async (t) => {
  const h = await startHerald(t);
  const id = await publish(h.events, "seq/a", "1");
  const { rec, options, until } = recorder();
  const sub = subscribe(h.events, "seq/a", { ...options, lastEventId: id });
  t.after(() => sub.close());
  await until("the replay count", (r) => r.replayed.length === 1);
  assert.deepEqual(rec.replayed, [0]);
  assert.equal(rec.events.length, 0);
});

test("herald:gap: an unknown ID and an evicted one reach onGap, not onEvent", async (t) => {
  const h = await startHerald(t, ["--history-size", "2"]);
  const ids = [];
  for (let i = 1; i <= 5; i++) {
    ids.push(await publish(h.events, "gap/a", String(i)));
  }
  for (const [name, from, reason] of [["unknown", "1-1", "unknown"], ["evicted", ids[0], "evicted"]]) {
    await t.test(name, async () => {
      const { rec, options, until } = recorder();
      const sub = subscribe(h.events, "gap/a", { ...options, lastEventId: from });
      try {
        await until("the gap and what history still holds", (r) => r.gaps.length === 1 && r.events.length === 2);
        assert.deepEqual(rec.gaps, [{ lastEventId: from, reason }]);
        assert.deepEqual(rec.events.map((e) => e.data), ["4", "5"]);
        assert.ok(rec.events.every((e) => e.type === "message"));
      } finally {
        sub.close();
      }
    });
  }
});

test("a token: subscribing over fetch with Authorization, publishing with it, and refusals", async (t) => {
  const h = await startHerald(t, ["--auth-secret", secret]);
  const both = await mintToken(secret, { publish: "room/*", subscribe: "room/*" });
  const readOnly = await mintToken(secret, { subscribe: "room/*" });

  await t.test("no token: 401 ends the subscription with herald's reason", async () => {
    const { rec, options, until } = recorder({ transport: "fetch" });
    const sub = subscribe(h.events, "room/1", options);
    t.after(() => sub.close());
    const err = await sub.closed;
    assert.ok(err instanceof HeraldError);
    assert.equal(err.status, 401);
    assert.match(err.message, /401/);
    assert.equal(typeof err.body?.error, "string");
    assert.ok(err.message.endsWith(err.body.error), err.message);
    await until("closed", (r) => r.states.includes("closed"));
    assert.deepEqual(rec.states, ["connecting", "closed"], "no reconnection after a 401");
    assert.equal(sub.error, err);
  });

  await t.test("a token not covering the topic: 403", async () => {
    const sub = subscribe(h.events, "other/1", { token: both });
    t.after(() => sub.close());
    const err = await sub.closed;
    assert.equal(err.status, 403);
  });

  await t.test("a token function, called per connection", async () => {
    let calls = 0;
    const { rec, options, until } = recorder();
    const sub = subscribe(h.events, ["room/*"], { ...options, token: async () => (calls++, both) });
    t.after(() => sub.close());
    await until("open", (r) => r.states.includes("open"));
    const id = await publish(h.events, "room/1", "hello", { token: both });
    await until("the event", (r) => r.events.length === 1);
    assert.deepEqual(rec.events[0], { type: "message", data: "hello", lastEventId: id });
    assert.equal(calls, 1);
    sub.close();
  });

  await t.test("publish refusals carry status and reason", async () => {
    const cases = [
      ["no token", "room/1", {}, 401],
      ["a subscribe-only token", "room/1", { token: readOnly }, 403],
      ["a topic outside the token", "elsewhere", { token: both }, 403],
      ["a bad topic", "room/bad topic/**", { token: both }, 400],
    ];
    for (const [what, topic, opts, status] of cases) {
      await assert.rejects(publish(h.events, topic, "x", opts), (err) => {
        assert.ok(err instanceof HeraldError, what);
        assert.equal(err.status, status, what);
        assert.equal(typeof err.body?.error, "string", what);
        assert.ok(err.message.includes(err.body.error), `${what}: ${err.message}`);
        return true;
      });
    }
  });
});

test("publish: too large data is 413, bad arguments are TypeErrors", async (t) => {
  const h = await startHerald(t, ["--max-data", "1024"]);
  await assert.rejects(publish(h.events, "big/a", "x".repeat(2000)), { name: "HeraldError", status: 413 });
  await assert.rejects(publish(h.events, "", "x"), TypeError);
  await assert.rejects(publish(h.events, undefined, "x"), TypeError);
  await assert.rejects(publish("not a url", "a", "x"), TypeError);
  assert.throws(() => subscribe("not a url", "a"), TypeError);
  assert.throws(() => subscribe(h.events, [""]), TypeError);
  assert.throws(() => subscribe(h.events, "a", { onEvent: "nope" }), TypeError);
  assert.throws(() => subscribe(h.events, "a", { transport: "carrier-pigeon" }), TypeError);
  assert.throws(() => subscribe(h.events, "a", { transport: "eventsource" }), TypeError, "no EventSource in Node");
  assert.throws(() => subscribe(h.events, "a", { persist: true }), TypeError, "no sessionStorage in Node");
  assert.throws(() => subscribe(h.events, "a", { persist: "cookie" }), TypeError);
  assert.throws(() => subscribe(h.events, "a", { events: "note" }), TypeError);
});

test("persist: a new subscription with the same storage resumes where the last one stopped", async (t) => {
  const h = await startHerald(t);
  const store = new Map();
  const storage = { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, v), removeItem: (k) => store.delete(k) };
  const first = recorder();
  const a = subscribe(h.events, ["p/b", "p/a"], { ...first.options, persist: storage });
  t.after(() => a.close());
  await first.until("open", (r) => r.states.includes("open"));
  const id1 = await publish(h.events, "p/a", "1");
  await first.until("one event", (r) => r.events.length === 1);
  a.close();
  assert.deepEqual([...store.values()], [id1]);
  assert.ok([...store.keys()][0].includes("topic=p%2Fa&topic=p%2Fb"), "keyed by URL and sorted topics");

  await publish(h.events, "p/b", "2");
  await publish(h.events, "p/a", "3");
  // The same topics in another order are the same subscription.
  const second = recorder();
  const b = subscribe(h.events, ["p/a", "p/b"], { ...second.options, persist: storage });
  t.after(() => b.close());
  assert.equal(b.lastEventId, id1);
  await second.until("the two missed events", (r) => r.events.length === 2);
  assert.deepEqual(second.rec.events.map((e) => e.data), ["2", "3"]);
  await second.until("the count", (r) => r.replayed.length === 1);
  assert.deepEqual(second.rec.replayed, [2]);
  assert.equal(store.get([...store.keys()][0]), b.lastEventId);
});

test("a restart of a bolt-backed herald: the subscription reconnects and resumes, nothing lost, nothing twice", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "herald-js-bolt-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const args = ["--store", `bolt:${join(dir, "events.db")}`, "--retry", "200ms"];
  let h = await startHerald(t, args);
  const { rec, options, until } = recorder({ retry: 200, maxDelay: 400 });
  const sub = subscribe(h.events, ["r/*"], options);
  t.after(() => sub.close());
  await until("open", (r) => r.states.includes("open"));
  for (let i = 1; i <= 3; i++) {
    await publish(h.events, "r/a", String(i));
  }
  await until("three live events", (r) => r.events.length === 3);

  await h.stop();
  await until("reconnecting", (r) => r.states.at(-1) === "reconnecting");
  h = await startHerald(t, args, { addr: h.addr });
  for (let i = 4; i <= 6; i++) {
    await publish(h.events, "r/a", String(i));
  }
  await until("six events", (r) => r.events.length >= 6);
  await publish(h.events, "r/a", "7");
  await until("the live seventh", (r) => r.events.length === 7);
  assert.deepEqual(rec.events.map((e) => e.data), ["1", "2", "3", "4", "5", "6", "7"], "in order, none lost, none twice");
  // The count covers exactly what came between the open and itself.
  await until("a replay count", (r) => r.replayed.length >= 1);
  const opened = rec.log.lastIndexOf("state open");
  const count = rec.log.indexOf(`replayed ${rec.replayed.at(-1)}`, opened);
  assert.ok(count > opened, rec.log.join("\n"));
  assert.equal(rec.log.slice(opened, count).filter((l) => l.startsWith("event")).length, rec.replayed.at(-1));
  assert.equal(rec.gaps.length, 0, "the bolt file keeps the IDs valid across the restart");
});

test("an expiring token: the stream ends, the token function gives a fresh one, the subscription resumes", async (t) => {
  const h = await startHerald(t, ["--auth-secret", secret, "--retry", "100ms"]);
  const pub = await mintToken(secret, { publish: "exp/*" });
  let minted = 0;
  const { rec, options, until } = recorder();
  const sub = subscribe(h.events, "exp/a", {
    ...options,
    token: () => (minted++, mintToken(secret, { subscribe: "exp/*", ttl: "2s" })),
  });
  t.after(() => sub.close());
  await until("open", (r) => r.states.includes("open"));
  await publish(h.events, "exp/a", "before", { token: pub });
  await until("reconnecting at expiry", (r) => r.states.includes("reconnecting"), 8000);
  await until("open again", (r) => r.states.at(-1) === "open", 8000);
  await publish(h.events, "exp/a", "after", { token: pub });
  await until("both events", (r) => r.events.length === 2);
  assert.deepEqual(rec.events.map((e) => e.data), ["before", "after"]);
  assert.ok(minted >= 2, `the token function ran ${minted} times`);
  assert.equal(rec.events.filter((e) => e.data === "before").length, 1, "not replayed twice");
});
