// Chat notifications: one subscription (herald.js) to chat/* follows every
// room. The room on screen shows its history (GET /chat/history) and then
// its live messages; a message in another room raises that room's unread
// count and a short notice. POST /chat/messages sends. Who is in the room
// on screen is the hub's presence, through herald.js's presence: a second
// subscription, to chat/<room> and presence/chat/<room>, puts this page in
// the room with its name as payload and brings the room's herald:join and
// herald:leave events; GET /presence says who was there first.
import { presence, subscribe } from "/herald.js";

const defaultRooms = ["lobby", "random", "help"];
const roomPattern = /^[a-z0-9-]{1,32}$/;

const roomList = document.getElementById("chat-room-list");
const messageList = document.getElementById("chat-messages");
const emptyNote = document.getElementById("chat-empty");
const roomTitle = document.getElementById("chat-room-title");
const userInput = document.getElementById("chat-user");
const textInput = document.getElementById("chat-text");
const errorElement = document.getElementById("chat-error");
const connection = document.getElementById("chat-connection");
const toast = document.getElementById("chat-toast");
const memberList = document.getElementById("chat-members");
const memberCount = document.getElementById("chat-member-count");
const presenceState = document.getElementById("chat-presence-state");

// tab tells this page's own presence from another with the same name.
const tab = Math.random().toString(36).slice(2, 10);

// rooms maps a room name to its state: its button, unread count, and the
// messages the page has for it, by event ID.
const rooms = new Map();
let current = "";
let toastTimer = 0;

// The name persists across visits of this tab.
userInput.value = sessionStorage.getItem("chat-user") || `guest-${Math.floor(Math.random() * 9000) + 1000}`;
userInput.addEventListener("change", () => sessionStorage.setItem("chat-user", userInput.value.trim()));
document.getElementById("chat-name").addEventListener("submit", (e) => e.preventDefault());

// addRoom adds room to the list, once, and returns its state.
function addRoom(room) {
  let state = rooms.get(room);
  if (state) {
    return state;
  }
  const item = document.createElement("li");
  const button = document.createElement("button");
  button.type = "button";
  button.className = "chat-room-button";
  button.dataset.room = room;
  button.setAttribute("aria-pressed", "false");
  const name = document.createElement("span");
  name.textContent = `#${room}`;
  const badge = document.createElement("span");
  badge.className = "badge chat-unread";
  badge.hidden = true;
  button.append(name, badge);
  button.addEventListener("click", () => join(room));
  item.append(button);
  roomList.append(item);
  state = { button, badge, unread: 0, messages: new Map() };
  rooms.set(room, state);
  return state;
}

// setUnread shows room's unread count on its button.
function setUnread(state, n) {
  state.unread = n;
  state.badge.hidden = n === 0;
  state.badge.textContent = String(n);
  state.button.dataset.unread = String(n);
  const label = state.button.dataset.room;
  state.button.setAttribute("aria-label", n ? `#${label}, ${n} unread` : `#${label}`);
}

// messageElement renders one message.
function messageElement(m) {
  const item = document.createElement("li");
  item.className = "chat-message";
  const head = document.createElement("div");
  head.className = "chat-meta";
  const who = document.createElement("strong");
  who.textContent = m.user;
  const when = document.createElement("time");
  when.dateTime = m.time;
  when.textContent = new Date(m.time).toLocaleTimeString();
  head.append(who, " ", when);
  const text = document.createElement("p");
  text.className = "chat-text";
  text.textContent = m.text;
  item.append(head, text);
  return item;
}

// render shows the messages of the current room, oldest first.
function render() {
  const state = rooms.get(current);
  messageList.replaceChildren(...[...state.messages.values()].map(messageElement));
  emptyNote.hidden = state.messages.size > 0;
  messageList.lastElementChild?.scrollIntoView({ block: "nearest" });
}

// join shows room: its history from the server, merged with the live
// messages that came meanwhile (the same event ID is the same message).
async function join(room) {
  const state = addRoom(room);
  current = room;
  enterRoom(room);
  delete messageList.dataset.loaded;
  for (const [name, s] of rooms) {
    s.button.setAttribute("aria-pressed", String(name === room));
  }
  roomTitle.textContent = `#${room}`;
  setUnread(state, 0);
  render();
  try {
    const resp = await fetch(`/chat/history?room=${encodeURIComponent(room)}`);
    const body = await resp.json();
    if (!resp.ok) {
      throw new Error(body.error || resp.statusText);
    }
    const merged = new Map();
    for (const m of body.messages) {
      merged.set(m.id, m);
    }
    for (const [id, m] of state.messages) {
      merged.set(id, m); // live after the history was read
    }
    state.messages = merged;
    if (current === room) {
      render();
      messageList.dataset.loaded = room;
    }
  } catch (err) {
    errorElement.textContent = `Could not load the history of #${room}: ${err.message}`;
  }
}

// showToast announces a message in a room the user is not looking at.
function showToast(m) {
  toast.textContent = `New message in #${m.room} from ${m.user}: ${m.text}`;
  toast.dataset.room = m.room;
  toast.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { toast.hidden = true; }, 5000);
}

// One stream for every room.
subscribe("/events", "chat/*", {
  json: true,
  onState: (state) => {
    if (state === "open") {
      connection.textContent = "Connected: following every room.";
      connection.dataset.state = "open";
    } else if (state !== "connecting") {
      connection.textContent = state === "closed" ? "Disconnected." : "Reconnecting…";
      connection.dataset.state = "error";
    }
  },
  onEvent: ({ data: m, lastEventId }) => {
    if (!m || typeof m.room !== "string" || !roomPattern.test(m.room)) {
      return;
    }
    const state = addRoom(m.room);
    if (state.messages.has(lastEventId)) {
      return;
    }
    state.messages.set(lastEventId, { id: lastEventId, ...m });
    if (m.room === current) {
      messageList.append(messageElement(m));
      emptyNote.hidden = true;
      messageList.lastElementChild.scrollIntoView({ block: "nearest" });
    } else {
      setUnread(state, state.unread + 1);
      showToast(m);
    }
  },
});

// The room's presence (herald.js presence): the page joins the room's
// topic with its name as payload and follows who else is there.
let roomPresence = null;

// renderMembers shows the members of the room, by name.
function renderMembers(members) {
  const items = [...members.values()]
    .map((s) => ({ id: s.id, user: typeof s.payload?.user === "string" ? s.payload.user : "someone", mine: s.payload?.tab === tab }))
    .sort((a, b) => a.user.localeCompare(b.user) || a.id.localeCompare(b.id))
    .map((m) => {
      const item = document.createElement("li");
      item.className = "chat-member";
      item.dataset.user = m.user;
      item.textContent = m.mine ? `${m.user} (you)` : m.user;
      return item;
    });
  memberList.replaceChildren(...items);
  memberCount.textContent = String(items.length);
  memberList.dataset.count = String(items.length);
}

// enterRoom moves this page's presence to name, with the name typed.
function enterRoom(name) {
  roomPresence?.close();
  renderMembers(new Map());
  delete memberList.dataset.room;
  presenceState.textContent = "Joining…";
  roomPresence = presence("/events", `chat/${name}`, {
    join: true,
    payload: { user: userInput.value.trim() || "guest", tab },
    onChange: (members) => {
      renderMembers(members);
      presenceState.textContent = "";
      memberList.dataset.room = name;
    },
    onState: (state) => {
      if (state === "reconnecting") {
        presenceState.textContent = "Reconnecting…";
      }
    },
    onError: (err) => {
      presenceState.textContent = `Could not read who is here: ${err.message}`;
    },
  });
}

// A new name enters the room again, under it.
userInput.addEventListener("change", () => enterRoom(current));

// Send a message to the current room.
document.getElementById("chat-compose").addEventListener("submit", async (e) => {
  e.preventDefault();
  errorElement.textContent = "";
  const text = textInput.value.trim();
  const user = userInput.value.trim();
  if (!user) {
    errorElement.textContent = "Pick a name first.";
    userInput.focus();
    return;
  }
  if (!text) {
    return;
  }
  try {
    const resp = await fetch("/chat/messages", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ room: current, user, text }),
    });
    if (!resp.ok) {
      const body = await resp.json().catch(() => ({}));
      throw new Error(body.error || resp.statusText);
    }
    textInput.value = "";
  } catch (err) {
    errorElement.textContent = `Not sent: ${err.message}`;
  }
});

// Create (or join) a room by name.
document.getElementById("chat-new-room").addEventListener("submit", (e) => {
  e.preventDefault();
  const input = document.getElementById("chat-new-room-name");
  const room = input.value.trim().toLowerCase();
  if (!roomPattern.test(room)) {
    errorElement.textContent = "A room name is 1 to 32 of a-z, 0-9 and -.";
    return;
  }
  errorElement.textContent = "";
  input.value = "";
  join(room);
});

for (const room of defaultRooms) {
  addRoom(room);
}
const asked = new URLSearchParams(window.location.search).get("room") || "";
join(roomPattern.test(asked) ? asked : "lobby");
