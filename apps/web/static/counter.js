// Live counter: the tutorial's first example, GET /stream read with onmessage.
"use strict";

const counterElement = document.getElementById("counter");
const connectionElement = document.getElementById("connection");
const toggle = document.getElementById("toggle");
let evtSource = null;

function setConnection(state, text) {
  connectionElement.dataset.state = state;
  connectionElement.textContent = text;
}

function connect() {
  evtSource = new EventSource("/stream");
  setConnection("connecting", "Connecting…");

  evtSource.onopen = function () {
    setConnection("open", "Connected.");
  };

  evtSource.onmessage = function (event) {
    const data = JSON.parse(event.data);
    counterElement.dataset.count = data.count;
    counterElement.textContent = `Count: ${data.count}, Time: ${new Date(data.time * 1000).toLocaleTimeString()}`;
  };

  evtSource.onerror = function () {
    setConnection("error", "Connection lost. Reconnecting…");
  };
}

toggle.addEventListener("click", function () {
  if (evtSource) {
    evtSource.close();
    evtSource = null;
    setConnection("paused", "Paused.");
    toggle.setAttribute("aria-pressed", "true");
    toggle.textContent = "Resume updates";
  } else {
    connect();
    toggle.setAttribute("aria-pressed", "false");
    toggle.textContent = "Pause updates";
  }
});

connect();
