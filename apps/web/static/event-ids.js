// Event IDs: GET /stream-with-id, resumed after the last ID the page saw.
"use strict";

const lastIdElement = document.getElementById("last-id");
const logElement = document.getElementById("log");
const connectionElement = document.getElementById("connection");
const toggle = document.getElementById("toggle");
const drop = document.getElementById("drop");
const maxLogEntries = 8;
let evtSource = null;
let lastEventId = "";
let resumed = false;

function setConnection(state, text) {
  connectionElement.dataset.state = state;
  connectionElement.textContent = text;
}

// connect opens the stream. After a dropped connection it passes the last ID
// in the query, since an EventSource cannot set the Last-Event-ID header
// itself on a first connection (it does on its own reconnections).
function connect() {
  const url = lastEventId ? `/stream-with-id?lastEventId=${encodeURIComponent(lastEventId)}` : "/stream-with-id";
  evtSource = new EventSource(url);
  setConnection("connecting", lastEventId ? `Resuming after event ${lastEventId}…` : "Connecting…");

  evtSource.onopen = function () {
    setConnection("open", "Connected.");
  };

  evtSource.onmessage = function (event) {
    const data = JSON.parse(event.data);
    lastEventId = event.lastEventId;
    lastIdElement.textContent = lastEventId;

    const item = document.createElement("li");
    if (resumed) {
      item.className = "resumed";
      resumed = false;
    }
    const id = document.createElement("span");
    id.className = "event-id";
    id.textContent = `#${event.lastEventId}`;
    const message = document.createElement("span");
    message.textContent = data.message;
    item.append(id, message);
    if (item.className === "resumed") {
      const note = document.createElement("span");
      note.className = "note";
      note.textContent = "first event after resuming";
      item.append(note);
    }
    logElement.prepend(item);
    while (logElement.children.length > maxLogEntries) {
      logElement.lastElementChild.remove();
    }
  };

  evtSource.onerror = function () {
    setConnection("error", "Connection lost. The browser reconnects and sends Last-Event-ID…");
  };
}

function pause() {
  evtSource.close();
  evtSource = null;
}

toggle.addEventListener("click", function () {
  if (evtSource) {
    pause();
    setConnection("paused", "Paused.");
    toggle.setAttribute("aria-pressed", "true");
    toggle.textContent = "Resume updates";
  } else {
    resumed = lastEventId !== "";
    connect();
    toggle.setAttribute("aria-pressed", "false");
    toggle.textContent = "Pause updates";
  }
});

drop.addEventListener("click", function () {
  if (evtSource) {
    pause();
  }
  resumed = lastEventId !== "";
  connect();
  toggle.setAttribute("aria-pressed", "false");
  toggle.textContent = "Pause updates";
});

connect();
