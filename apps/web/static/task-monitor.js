// Task progress monitor: POST /start-task, then one EventSource per task on
// GET /task-progress/{task_id}, closed when the task finishes. A task is
// queued until the server has a free slot, then running, then completed,
// failed or cancelled.
"use strict";

const taskContainer = document.getElementById("taskContainer");
const errorElement = document.getElementById("task-error");
const noTasks = document.getElementById("no-tasks");

// taskElement builds the card of one task: a heading, a progress bar and a
// status line that screen readers announce as it changes.
function taskElement(taskId) {
  const item = document.createElement("li");
  item.className = "task";
  item.dataset.taskId = taskId;
  item.dataset.status = "queued";

  const head = document.createElement("div");
  head.className = "task-head";
  const title = document.createElement("h3");
  title.id = `task-${taskId}`;
  title.textContent = `Task ${taskId.slice(0, 8)}`;
  title.title = taskId;
  const badge = document.createElement("span");
  badge.className = "badge";
  badge.textContent = "queued";
  head.append(title, badge);

  const bar = document.createElement("div");
  bar.className = "progress-bar";
  bar.setAttribute("role", "progressbar");
  bar.setAttribute("aria-labelledby", title.id);
  bar.setAttribute("aria-valuemin", "0");
  bar.setAttribute("aria-valuemax", "100");
  bar.setAttribute("aria-valuenow", "0");
  const fill = document.createElement("div");
  fill.className = "progress-fill";
  bar.append(fill);

  const status = document.createElement("p");
  status.className = "status";
  status.setAttribute("aria-live", "polite");
  status.textContent = "Starting…";

  item.append(head, bar, status);
  return item;
}

// finalStates end a task: its stream has nothing more to say.
const finalStates = new Set(["completed", "failed", "cancelled"]);

// statusText describes a task's state: the tutorial's "running - 40%
// complete", and words of its own for the states the tutorial did not have.
function statusText(task) {
  switch (task.status) {
    case "queued":
      return "queued - waiting for a free slot";
    case "failed":
      return `failed at ${task.progress}%` + (task.error ? `: ${task.error}` : "");
    case "cancelled":
      return `cancelled at ${task.progress}% (the server stopped it)`;
    default:
      return `${task.status} - ${task.progress}% complete`;
  }
}

async function startTask() {
  errorElement.textContent = "";
  let taskId;
  try {
    // Start a new task.
    const response = await fetch("/start-task", { method: "POST" });
    const data = await response.json();
    if (!response.ok) {
      throw new Error(data.error || response.statusText);
    }
    taskId = data.task_id;
  } catch (err) {
    errorElement.textContent = `Could not start a task: ${err.message}`;
    return;
  }

  // Create UI for this task.
  const item = taskElement(taskId);
  noTasks.hidden = true;
  taskContainer.prepend(item);
  const bar = item.querySelector(".progress-bar");
  const progressFill = item.querySelector(".progress-fill");
  const statusElement = item.querySelector(".status");
  const badge = item.querySelector(".badge");

  // Connect to the SSE stream for this task.
  const eventSource = new EventSource(`/task-progress/${encodeURIComponent(taskId)}`);

  eventSource.onmessage = function (event) {
    const taskData = JSON.parse(event.data);

    // Update UI.
    progressFill.style.width = `${taskData.progress}%`;
    bar.setAttribute("aria-valuenow", String(taskData.progress));
    statusElement.textContent = statusText(taskData);
    item.dataset.status = taskData.status;
    badge.textContent = taskData.status;

    // Close the connection when the task is finished, before the server
    // ends the stream, so the browser does not try to reconnect.
    if (finalStates.has(taskData.status)) {
      eventSource.close();
    }
  };

  eventSource.onopen = function () {
    badge.textContent = item.dataset.status;
  };

  eventSource.onerror = function () {
    if (eventSource.readyState === EventSource.CONNECTING) {
      // The browser reconnects by itself and sends the ID of the last
      // state it got: the server resumes from there, from its history.
      badge.textContent = "reconnecting…";
      return;
    }
    // The server refused the stream: the task is unknown or expired.
    eventSource.close();
    item.dataset.status = "lost";
    badge.textContent = "connection lost";
    statusElement.textContent += " (Connection lost)";
  };
}

document.getElementById("start-task").addEventListener("click", startTask);
