// Reconnection and recovery: herald.js follows GET /reconnect/stream (over
// the browser's EventSource, which reconnects by itself, sending
// Last-Event-ID; herald.js takes over when the browser gives up, say on a
// 503 while the server restarts). The page shows the connection state, the
// replay after each reconnect (herald:replayed), and checks that the sequence numbers arrive
// with none skipped and none repeated. "Drop my stream" asks the server
// (POST /reconnect/drop) to end this page's stream, which it does with an
// "error" event first.
import { subscribe } from "/herald.js";

const $ = id => document.getElementById(id);
const stateEl = $("state");
const seqEl = $("seq");
const checkEl = $("check");
const lastIdEl = $("last-id");
const receivedEl = $("received");
const reconnectsEl = $("reconnects");
const replayedEl = $("replayed");
const serverError = $("server-error");
const log = $("log");

// A random client ID names this page's stream to the server.
const clientId = [...crypto.getRandomValues(new Uint8Array(8))]
  .map(b => b.toString(16).padStart(2, "0")).join("");
$("client-id").textContent = clientId;

let opened = 0; // how many times a stream has opened
let lastSeq = null;
let run = null;
let received = 0;
let missed = 0;
let duplicated = 0;

function note(text) {
  const li = document.createElement("li");
  const time = document.createElement("span");
  time.className = "event-id";
  time.textContent = new Date().toLocaleTimeString();
  const msg = document.createElement("span");
  msg.textContent = text;
  li.append(time, msg);
  log.prepend(li);
  while (log.children.length > 20) {
    log.lastChild.remove();
  }
}

function setState(state) {
  if (stateEl.dataset.state !== state) {
    stateEl.dataset.state = state;
    stateEl.textContent = state;
    note(`connection ${state}`);
  }
}

function showCheck() {
  checkEl.textContent = `missed: ${missed}\nduplicated: ${duplicated}`;
  checkEl.dataset.ok = String(missed === 0 && duplicated === 0);
  checkEl.dataset.missed = String(missed);
}

function onSequence(event) {
  const data = event.data;
  received++;
  if (run !== null && data.run !== run) {
    // The server restarted: its sequence starts again at 1.
    note(`the server restarted; the sequence starts again at ${data.seq}`);
    lastSeq = null;
  }
  run = data.run;
  if (lastSeq !== null) {
    if (data.seq > lastSeq + 1) {
      missed += data.seq - lastSeq - 1;
      note(`missed ${data.seq - lastSeq - 1} event(s) before #${data.seq}`);
    } else if (data.seq <= lastSeq) {
      duplicated++;
      note(`#${data.seq} arrived again`);
    }
  }
  lastSeq = lastSeq === null ? data.seq : Math.max(lastSeq, data.seq);
  seqEl.textContent = String(lastSeq);
  seqEl.dataset.seq = String(lastSeq);
  lastIdEl.textContent = event.lastEventId || "none yet";
  receivedEl.textContent = String(received);
  showCheck();
}

function showReplayed(count, after) {
  replayedEl.textContent = String(count);
  replayedEl.dataset.replayed = String(count);
  note(`resumed after ${after}: ${count} event(s) replayed from history`);
}

let resumedFrom = ""; // the last event ID the current stream resumed after

const sub = subscribe(`/reconnect/stream?client=${clientId}`, null, {
  json: true,
  // The sequence, and the server's "error" event before it drops the stream.
  events: ["message", "error"],
  onState: (state) => {
    if (state === "open") {
      resumedFrom = sub.lastEventId;
      if (++opened > 1) {
        reconnectsEl.textContent = String(opened - 1);
      }
    }
    setState(state);
  },
  onEvent: (event) => {
    if (event.type === "message") {
      onSequence(event);
      return;
    }
    const reason = event.data.reason;
    serverError.textContent = `Last error event from the server: ${reason}`;
    serverError.dataset.seen = "true";
    note(`error event from the server: ${reason}`);
  },
  // After the history a resumed stream replays, the hub says how much.
  onReplayed: (count) => showReplayed(count, resumedFrom),
  onGap: (gap) => note(`the history could not cover the gap after ${gap.lastEventId}: ${gap.reason}`),
  onError: (err) => note(err.message),
});

$("drop").addEventListener("click", async () => {
  try {
    const response = await fetch(`/reconnect/drop?client=${clientId}`, { method: "POST" });
    const data = await response.json();
    note(response.ok ? `asked the server to drop ${data.dropped} stream(s)` : `drop refused: ${data.error}`);
  } catch (err) {
    note(`drop failed: ${err.message}`);
  }
});

showCheck();
