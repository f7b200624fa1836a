// Named events: one stream, GET /advanced-stream, with a listener per event type.
"use strict";

const counterElement = document.getElementById("counter");
const timeElement = document.getElementById("time");
const connectionElement = document.getElementById("connection");
const toggle = document.getElementById("toggle");
let advancedSource = null;

function setConnection(state, text) {
  connectionElement.dataset.state = state;
  connectionElement.textContent = text;
}

function connect() {
  advancedSource = new EventSource("/advanced-stream");
  setConnection("connecting", "Connecting…");

  advancedSource.onopen = function () {
    setConnection("open", "Connected.");
  };

  // Listen for specific events.
  advancedSource.addEventListener("counter", function (event) {
    const data = JSON.parse(event.data);
    counterElement.dataset.count = data.count;
    counterElement.textContent = `Counter: ${data.count}`;
  });

  advancedSource.addEventListener("time", function (event) {
    const data = JSON.parse(event.data);
    timeElement.textContent = `Time: ${new Date(data.time * 1000).toLocaleTimeString()}`;
  });

  advancedSource.onerror = function () {
    setConnection("error", "Connection lost. Reconnecting…");
  };
}

toggle.addEventListener("click", function () {
  if (advancedSource) {
    advancedSource.close();
    advancedSource = null;
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
