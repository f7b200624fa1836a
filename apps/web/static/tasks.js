// Task board: many tasks per client. POST /start-task starts one, DELETE
// /tasks/{id} cancels it, and ONE stream (herald.js) on GET /task-events
// follows every unfinished task (reopened when the set changes). The task IDs live
// in localStorage, so a reloaded page finds its tasks again; the stream
// replays each task's history, which gives its current state.
import { subscribe } from "/herald.js";

const storageKey = "herald.taskBoard.v1";
const maxFollowed = 32; // the server's limit of tasks per stream
const finalStates = new Set(["completed", "failed", "cancelled", "unknown"]);

const board = document.getElementById("board");
const noTasks = document.getElementById("no-tasks");
const errorElement = document.getElementById("board-error");
const connection = document.getElementById("connection");
const summary = document.getElementById("board-summary");
const startOne = document.getElementById("start-one");
const startFive = document.getElementById("start-five");

// tasks maps a task ID to its state and card, in the order they were
// started (newest first on screen).
const tasks = new Map();
let source = null; // the subscription following the unfinished tasks
let followed = ""; // the query it follows

function load() {
  try {
    const saved = JSON.parse(localStorage.getItem(storageKey) || "[]");
    return Array.isArray(saved) ? saved : [];
  } catch {
    return [];
  }
}

function save() {
  // In the order on screen, newest first.
  const list = [...board.children].map(el => tasks.get(el.dataset.taskId)).map(t => ({ id: t.id, status: t.status, progress: t.progress, error: t.error || "" }));
  localStorage.setItem(storageKey, JSON.stringify(list));
}

function unfinished() {
  return [...tasks.values()].filter(t => !finalStates.has(t.status));
}

// card builds the card of one task: heading and badge, a progress bar, a
// status line announced as it changes, and its buttons.
function card(task) {
  const item = document.createElement("li");
  item.className = "task";
  item.dataset.taskId = task.id;

  const head = document.createElement("div");
  head.className = "task-head";
  const title = document.createElement("h3");
  title.id = `task-${task.id}`;
  title.textContent = `Task ${task.id.slice(0, 8)}`;
  title.title = task.id;
  const badge = document.createElement("span");
  badge.className = "badge";
  head.append(title, badge);

  const bar = document.createElement("div");
  bar.className = "progress-bar";
  bar.setAttribute("role", "progressbar");
  bar.setAttribute("aria-labelledby", title.id);
  bar.setAttribute("aria-valuemin", "0");
  bar.setAttribute("aria-valuemax", "100");
  const fill = document.createElement("div");
  fill.className = "progress-fill";
  bar.append(fill);

  const foot = document.createElement("div");
  foot.className = "task-foot";
  const status = document.createElement("p");
  status.className = "status";
  status.setAttribute("aria-live", "polite");
  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.className = "cancel";
  cancel.textContent = "Cancel";
  cancel.setAttribute("aria-describedby", title.id);
  cancel.addEventListener("click", () => cancelTask(task));
  const dismiss = document.createElement("button");
  dismiss.type = "button";
  dismiss.className = "dismiss";
  dismiss.textContent = "Dismiss";
  dismiss.setAttribute("aria-describedby", title.id);
  dismiss.addEventListener("click", () => dismissTask(task));
  foot.append(status, cancel, dismiss);

  item.append(head, bar, foot);
  return item;
}

function statusText(task) {
  switch (task.status) {
    case "queued":
      return "queued - waiting for a free slot";
    case "running":
      return `running - ${task.progress}% complete` + (task.cancelling ? " (cancelling…)" : "");
    case "completed":
      return "completed - 100% complete";
    case "failed":
      return `failed at ${task.progress}%` + (task.error ? `: ${task.error}` : "");
    case "cancelled":
      return `cancelled at ${task.progress}%`;
    case "unknown":
      return "unknown - the server's history no longer holds this task";
    default:
      return "waiting for its state…";
  }
}

function render(task) {
  const el = task.el;
  const done = finalStates.has(task.status);
  el.dataset.status = task.status;
  el.querySelector(".badge").textContent = task.cancelling && !done ? "cancelling" : task.status;
  el.querySelector(".progress-fill").style.width = `${task.progress}%`;
  el.querySelector("[role=progressbar]").setAttribute("aria-valuenow", String(task.progress));
  el.querySelector(".status").textContent = statusText(task) + (task.note ? ` (${task.note})` : "");
  const cancel = el.querySelector(".cancel");
  cancel.hidden = done;
  cancel.disabled = Boolean(task.cancelling);
  el.querySelector(".dismiss").hidden = !done;
}

function renderSummary() {
  noTasks.hidden = tasks.size > 0;
  const counts = {};
  for (const t of tasks.values()) {
    counts[t.status] = (counts[t.status] || 0) + 1;
  }
  summary.textContent = Object.entries(counts).map(([s, n]) => `${n} ${s}`).join(", ");
  const full = unfinished().length >= maxFollowed;
  startOne.disabled = full;
  startFive.disabled = unfinished().length + 5 > maxFollowed;
  if (full) {
    errorElement.textContent = `${maxFollowed} tasks are unfinished: wait for one to finish before starting more.`;
  }
}

function addTask(saved, atTop) {
  const task = {
    id: saved.id,
    status: saved.status || "queued",
    progress: Number(saved.progress) || 0,
    error: saved.error || "",
  };
  task.el = card(task);
  tasks.set(task.id, task);
  if (atTop) {
    board.prepend(task.el);
  } else {
    board.append(task.el);
  }
  render(task);
  return task;
}

// apply records a state from the stream. A finished task stays finished:
// a replay that is still catching up cannot take it back.
function apply(state) {
  const task = tasks.get(state.task_id);
  if (!task || finalStates.has(task.status)) {
    return;
  }
  task.status = state.status;
  task.progress = state.progress;
  task.error = state.error || "";
  if (finalStates.has(task.status)) {
    task.cancelling = false;
  }
  render(task);
  save();
  renderSummary();
  if (unfinished().length === 0) {
    follow(); // nothing left to follow: close the stream
  }
}

// follow (re)opens the one stream for every unfinished task, when that set
// has changed, and closes it when there is none.
function follow() {
  const ids = unfinished().map(t => t.id);
  const query = ids.map(id => `task=${encodeURIComponent(id)}`).join("&");
  if (query === followed && source !== null) {
    return;
  }
  if (source !== null) {
    source.close();
    source = null;
  }
  followed = query;
  if (ids.length === 0) {
    connection.dataset.state = "closed";
    connection.textContent = "No task to follow.";
    return;
  }
  connection.dataset.state = "connecting";
  connection.textContent = `Connecting to follow ${ids.length} task(s)…`;
  source = subscribe(`/task-events?${query}`, null, {
    json: true,
    events: ["message", "unknown"],
    onState: (state, info) => {
      if (state === "open") {
        connection.dataset.state = "open";
        connection.textContent = `Following ${ids.length} task(s) on one stream.`;
      } else if (state === "reconnecting") {
        // herald.js reconnects with the last event ID; the server resumes
        // from its history.
        connection.dataset.state = "reconnecting";
        connection.textContent = "Connection lost; reconnecting…";
      } else if (state === "closed" && info.error) {
        connection.dataset.state = "error";
        connection.textContent = `The server refused the stream (${info.error.message}); reload the page to try again.`;
      }
    },
    onEvent: (event) => {
      if (event.type === "unknown") {
        for (const id of event.data.tasks) {
          const task = tasks.get(id);
          if (task && !finalStates.has(task.status)) {
            apply({ task_id: id, status: "unknown", progress: task.progress });
          }
        }
        return;
      }
      apply(event.data);
    },
  });
}

async function startTasks(n) {
  errorElement.textContent = "";
  for (let i = 0; i < n; i++) {
    try {
      const response = await fetch("/start-task", { method: "POST" });
      const data = await response.json();
      if (!response.ok) {
        throw new Error(data.error || response.statusText);
      }
      addTask({ id: data.task_id }, true);
    } catch (err) {
      errorElement.textContent = `Could not start a task: ${err.message}`;
      break;
    }
  }
  save();
  renderSummary();
  follow();
}

async function cancelTask(task) {
  errorElement.textContent = "";
  task.cancelling = true;
  render(task);
  try {
    const response = await fetch(`/tasks/${encodeURIComponent(task.id)}`, { method: "DELETE" });
    if (response.status === 404) {
      // It finished meanwhile (or another node runs it): its final state
      // comes on the stream.
      task.cancelling = false;
      task.note = "already finished";
    } else if (!response.ok) {
      const data = await response.json();
      throw new Error(data.error || response.statusText);
    }
  } catch (err) {
    task.cancelling = false;
    errorElement.textContent = `Could not cancel task ${task.id.slice(0, 8)}: ${err.message}`;
  }
  render(task);
}

function dismissTask(task) {
  tasks.delete(task.id);
  task.el.remove();
  save();
  renderSummary();
  startOne.focus();
}

document.getElementById("dismiss-finished").addEventListener("click", () => {
  for (const task of [...tasks.values()]) {
    if (finalStates.has(task.status)) {
      tasks.delete(task.id);
      task.el.remove();
    }
  }
  save();
  renderSummary();
});
startOne.addEventListener("click", () => startTasks(1));
startFive.addEventListener("click", () => startTasks(5));

// Find this browser's tasks again, newest first as they were saved.
for (const saved of load()) {
  if (saved && typeof saved.id === "string" && /^[A-Za-z0-9]{1,64}$/.test(saved.id)) {
    addTask(saved, false);
  }
}
renderSummary();
follow();
