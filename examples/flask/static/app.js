// The tutorial's task monitor and a chat. Flask starts tasks and takes messages; herald streams
// them: this page subscribes to herald directly with EventSource.
"use strict";

const config = JSON.parse(document.getElementById("herald-config").textContent);
const STORE = "herald-flask-tasks"; // this tab's tasks, so a reload resumes them

// streamURL is herald's stream of topic, after the event lastId. With no ID yet, from=start makes
// herald replay the topic's whole history: a page that subscribes after the task started still gets
// its current state. When the browser reconnects by itself it sends Last-Event-ID, which herald
// prefers to both parameters.
function streamURL(topic, lastId) {
  const url = new URL("/events", config.herald);
  url.searchParams.set("topic", topic);
  if (lastId) url.searchParams.set("lastEventId", lastId);
  else url.searchParams.set("from", "start");
  if (config.token) url.searchParams.set("access_token", config.token);
  return url.toString();
}

// follow keeps an EventSource on topic and hands each event's JSON to onData. The browser
// reconnects by itself when a stream ends or the network drops, sending Last-Event-ID; when it
// gives up (herald answered an error, such as 429 or 503), follow opens a new EventSource after
// the last event it got, waiting longer each time. Either way herald replays what was missed.
function follow(topic, lastId, { onData, onState }) {
  let source = null;
  let closed = false;
  let delay = 500;
  const open = () => {
    if (closed) return;
    source = new EventSource(streamURL(topic, lastId));
    source.onopen = () => {
      delay = 500;
      onState("live");
    };
    source.onmessage = (event) => {
      lastId = event.lastEventId;
      let data;
      try {
        data = JSON.parse(event.data);
      } catch {
        return; // not one of ours
      }
      onData(data, event.lastEventId);
    };
    source.onerror = () => {
      if (closed) return;
      if (source.readyState === EventSource.CLOSED) {
        onState("retrying");
        setTimeout(open, delay);
        delay = Math.min(delay * 2, 10000);
      } else {
        onState("reconnecting");
      }
    };
  };
  open();
  return {
    close() {
      closed = true;
      if (source) source.close();
    },
  };
}

// ---- Tasks ----

function loadTasks() {
  try {
    const tasks = JSON.parse(sessionStorage.getItem(STORE) || "[]");
    return Array.isArray(tasks) ? tasks : [];
  } catch {
    return [];
  }
}

const tasks = loadTasks();
const saveTasks = () => sessionStorage.setItem(STORE, JSON.stringify(tasks));
const container = document.getElementById("taskContainer");

// draw shows a task's state: the bar, its status, and every step seen, in order.
function draw(task, el) {
  el.dataset.status = task.status;
  el.dataset.progress = String(task.progress);
  el.dataset.steps = task.steps.join(",");
  el.dataset.events = String(task.events);
  el.dataset.repeats = String(task.repeats);
  el.querySelector(".progress-fill").style.width = `${task.progress}%`;
  el.querySelector(".status").textContent = `${task.status} - ${task.progress}% complete`;
  el.querySelector(".steps").textContent =
    `steps: ${task.steps.join(" → ") || "none yet"} (${task.events} events, ${task.repeats} repeated)`;
}

function showTask(task) {
  const el = document.createElement("li");
  el.className = "task";
  el.dataset.taskId = task.id;
  el.innerHTML = `
    <div class="task-head"><a class="task-link"></a> <span class="conn"></span></div>
    <div class="progress-bar"><div class="progress-fill"></div></div>
    <div class="status"></div>
    <div class="steps muted"></div>`;
  const link = el.querySelector(".task-link");
  link.href = `/tasks/${task.id}`;
  link.textContent = `Task ${task.id.slice(0, 8)}`;
  container.prepend(el);
  draw(task, el);
  if (task.status === "completed") return;

  const conn = el.querySelector(".conn");
  const stream = follow(`flask/tasks/${task.id}`, task.lastId, {
    onState(state) {
      conn.textContent = state;
      el.dataset.conn = state;
      el.dataset.opens = String(Number(el.dataset.opens || 0) + (state === "live" ? 1 : 0));
    },
    onData(state, id) {
      task.events++;
      task.lastId = id;
      // Each event is the task's whole state. One that is not newer is a repeat (publisher.py says
      // when herald can store an event twice): counted, not drawn.
      const newer = state.progress > task.progress || (state.status !== task.status && state.status === "completed");
      if (task.steps.length > 0 && !newer) {
        task.repeats++;
      } else {
        task.status = state.status;
        task.progress = state.progress;
        task.steps.push(state.progress);
      }
      saveTasks();
      draw(task, el);
      if (task.status === "completed") {
        stream.close();
        conn.textContent = "done";
        el.dataset.conn = "done";
      }
    },
  });
}

function addTask(id) {
  const task = { id, lastId: "", status: "waiting", progress: 0, steps: [], events: 0, repeats: 0 };
  tasks.unshift(task);
  saveTasks();
  showTask(task);
}

document.getElementById("startTask").addEventListener("click", async () => {
  const error = document.getElementById("task-error");
  error.textContent = "";
  try {
    const response = await fetch("/start-task", { method: "POST" });
    const data = await response.json();
    if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
    addTask(data.task_id);
  } catch (err) {
    error.textContent = `Could not start a task: ${err.message}`;
  }
});

for (const task of [...tasks].reverse()) showTask(task); // oldest first: prepend puts the newest on top
if (config.task && !tasks.some((t) => t.id === config.task)) addTask(config.task);

// ---- Chat ----

const messages = document.getElementById("messages");
const roomInput = document.getElementById("room");
const chatState = document.getElementById("chat-state");
let room = null;

// joinRoom shows the room's messages: its history from herald, then new ones as they come.
function joinRoom(name) {
  if (room) room.stream.close();
  messages.replaceChildren();
  const seen = new Set();
  room = {
    name,
    stream: follow(`flask/chat/${name}`, "", {
      onState(state) {
        chatState.textContent = `#${name}: ${state}`;
        chatState.dataset.state = state;
      },
      onData(msg) {
        if (seen.has(msg.id)) return; // a repeat: see publisher.py
        seen.add(msg.id);
        const li = document.createElement("li");
        const who = document.createElement("strong");
        who.textContent = msg.user;
        li.append(who, `: ${msg.text}`);
        li.title = new Date(msg.time * 1000).toLocaleTimeString();
        messages.append(li);
      },
    }),
  };
}

roomInput.addEventListener("change", () => {
  if (roomInput.checkValidity() && roomInput.value !== room.name) joinRoom(roomInput.value);
});

document.getElementById("chat-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("chat-error");
  const text = document.getElementById("text");
  error.textContent = "";
  if (roomInput.checkValidity() && roomInput.value !== room.name) joinRoom(roomInput.value);
  try {
    const response = await fetch(`/chat/${encodeURIComponent(room.name)}`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user: document.getElementById("user").value, text: text.value }),
    });
    const data = await response.json();
    if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
    text.value = ""; // the message shows when herald delivers it
  } catch (err) {
    error.textContent = `Not sent: ${err.message}`;
  }
});

joinRoom(roomInput.value);
