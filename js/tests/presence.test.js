// presence against a real herald serve: who is in a room, live, from the
// listing and the herald:join and herald:leave events; refusals.
import { test } from "node:test";
import assert from "node:assert/strict";
import { presence } from "../herald.js";
import { mintToken, startHerald } from "./helpers.js";

// follow starts presence with an onChange that until() waits on.
function follow(url, topic, options = {}) {
  const waiters = new Set();
  const errors = [];
  const p = presence(url, topic, {
    ...options,
    onError: (err) => errors.push(err),
    onChange: () => {
      for (const w of waiters) {
        if (w.predicate(p.members)) {
          waiters.delete(w);
          clearTimeout(w.timer);
          w.resolve();
        }
      }
    },
  });
  p.errors = errors;
  p.until = (what, predicate, ms = 10000) => predicate(p.members) ? Promise.resolve() : new Promise((resolve, reject) => {
    const w = { predicate, resolve };
    w.timer = setTimeout(() => {
      waiters.delete(w);
      reject(new Error(`waited ${ms} ms for ${what}; members: ${JSON.stringify([...p.members.values()])}; errors: ${errors.map((e) => e.message)}`));
    }, ms);
    waiters.add(w);
  });
  return p;
}

const names = (members) => [...members.values()].map((s) => s.payload?.user).sort().join(",");

test("presence: two join a room and see each other; one leaves; a watcher of the pattern sees both", async (t) => {
  const h = await startHerald(t);
  const ada = follow(h.events, "chat/lobby", { join: true, payload: { user: "ada" } });
  t.after(() => ada.close());
  await ada.until("Ada alone", (m) => names(m) === "ada");
  const bob = follow(h.events, "chat/lobby", { join: true, payload: { user: "bob" } });
  t.after(() => bob.close());
  const watcher = follow(h.events, "chat/*");
  t.after(() => watcher.close());
  await bob.until("Bob sees both", (m) => names(m) === "ada,bob");
  await ada.until("Ada sees Bob", (m) => names(m) === "ada,bob");
  await watcher.until("the watcher of chat/* sees both", (m) => names(m) === "ada,bob");
  const [one] = [...ada.members.values()];
  assert.match(one.id, /^urn:uuid:/);
  assert.deepEqual(one.topics, ["chat/lobby"]);
  assert.ok(one.node && !Number.isNaN(Date.parse(one.start)), JSON.stringify(one));

  bob.close();
  await ada.until("Bob gone", (m) => names(m) === "ada");
  await watcher.until("Bob gone for the watcher", (m) => names(m) === "ada");
  assert.equal(watcher.members.size, 1, "the watcher itself is not listed");
  assert.deepEqual([ada, watcher].flatMap((p) => p.errors), []);
});

test("presence with auth on: the token's payload claim; no presence grant is refused", async (t) => {
  const secret = "herald-js-presence-secret-0123456789ab";
  const h = await startHerald(t, ["--auth-secret", secret]);
  const member = await mintToken(secret, { subscribe: "chat/*,presence/chat/*", payload: '{"user":"cy"}' });
  const cy = follow(h.events, "chat/lobby", { join: true, token: member });
  t.after(() => cy.close());
  await cy.until("Cy listed with the token's payload", (m) => names(m) === "cy");

  const noGrant = await mintToken(secret, { subscribe: "chat/*" });
  const refused = follow(h.events, "chat/lobby", { token: noGrant });
  t.after(() => refused.close());
  await new Promise((resolve) => {
    const wait = () => (refused.errors.length > 0 ? resolve() : setTimeout(wait, 20));
    wait();
  });
  assert.equal(refused.errors[0].status, 403, refused.errors[0].message);
});

test("presence: bad arguments are TypeErrors", () => {
  assert.throws(() => presence("http://127.0.0.1:1/events", ""), TypeError);
  assert.throws(() => presence("http://127.0.0.1:1/events", 7), TypeError);
});
