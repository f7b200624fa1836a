// Reconnection and recovery: one EventSource on GET /reconnect/stream,
// which the browser reconnects by itself, sending Last-Event-ID; the page
// shows the connection state, the replay after each reconnect, and checks
// that the sequence numbers arrive with none skipped and none repeated.
// "Drop my stream" asks the server (POST /reconnect/drop) to end this
// page's stream, which it does with an "error" event first.
"use strict";

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

let source = null;
let opened = 0; // how many times a stream has opened
let lastEventId = "";
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
  const data = JSON.parse(event.data);
  received++;
  lastEventId = event.lastEventId;
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
  lastIdEl.textContent = lastEventId || "none yet";
  receivedEl.textContent = String(received);
  showCheck();
}

function connect() {
  setState("connecting");
  // After a refused stream (the browser gave up), resume with the query
  // form of Last-Event-ID; the browser sends the header on its own
  // reconnects.
  let url = `/reconnect/stream?client=${clientId}`;
  if (lastEventId) {
    url += `&lastEventId=${encodeURIComponent(lastEventId)}`;
  }
  const es = new EventSource(url);
  source = es;
  es.onopen = () => {
    opened++;
    if (opened > 1) {
      reconnectsEl.textContent = String(opened - 1);
    }
    setState("open");
  };
  es.onmessage = onSequence;
  es.addEventListener("replay", event => {
    const info = JSON.parse(event.data);
    if (opened > 1 || info.lastEventId) {
      replayedEl.textContent = String(info.replayed);
      replayedEl.dataset.replayed = String(info.replayed);
      note(`resumed after ${info.lastEventId || "the start"}: ${info.replayed} event(s) replayed from history`);
    }
  });
  es.addEventListener("herald:gap", event => {
    note(`the history could not cover the gap: ${event.data}`);
  });
  es.onerror = event => {
    if (es !== source) {
      return;
    }
    if (event instanceof MessageEvent) {
      // The server's own "error" event, sent before it closes the stream.
      let reason = event.data;
      try {
        reason = JSON.parse(event.data).reason;
      } catch {
        // Not JSON: show it as it is.
      }
      serverError.textContent = `Last error event from the server: ${reason}`;
      serverError.dataset.seen = "true";
      note(`error event from the server: ${reason}`);
      return;
    }
    if (es.readyState === EventSource.CONNECTING) {
      setState("reconnecting");
      return;
    }
    // The server refused the stream (say, while restarting): the browser
    // gave up, so try again in a few seconds.
    setState("reconnecting");
    es.close();
    setTimeout(() => {
      if (es === source) {
        connect();
      }
    }, 3000);
  };
}

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
connect();
