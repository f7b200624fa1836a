// Stock ticker: GET /stocks/symbols lists the market; the page subscribes
// (herald.js) to exactly the chosen symbols' topics on one stream,
// /events?topic=stocks/AAPL&topic=stocks/MSFT, and closes it and opens
// another whenever the choice changes. Each price flashes up or down as it
// moves and draws a sparkline of its last 60 ticks.
import { subscribe } from "/herald.js";

const sparkPoints = 60;
const flashMillis = 700;

const picker = document.getElementById("stock-symbols");
const board = document.getElementById("stock-board");
const connection = document.getElementById("stock-connection");
const errorElement = document.getElementById("stock-error");
const svgNS = "http://www.w3.org/2000/svg";

// symbols maps a symbol to its listing and, while it is followed, its card.
const symbols = new Map();
const chosen = new Set();
let source = null; // the current subscription
// received holds the symbols the current stream has delivered; the page
// shows it in the board's data-received attribute.
let received = new Set();

const money = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" });
const signed = new Intl.NumberFormat("en-US", { signDisplay: "exceptZero", minimumFractionDigits: 2, maximumFractionDigits: 2 });

// card builds the card of a followed symbol.
function card(s) {
  const item = document.createElement("li");
  item.className = "stock";
  item.dataset.symbol = s.symbol;
  item.dataset.ticks = "0";
  const head = document.createElement("div");
  head.className = "stock-head";
  const title = document.createElement("h3");
  title.textContent = s.symbol;
  const name = document.createElement("span");
  name.className = "muted stock-name";
  name.textContent = s.name;
  head.append(title, name);
  const price = document.createElement("p");
  price.className = "stock-price";
  price.textContent = money.format(s.price);
  const change = document.createElement("span");
  change.className = "stock-change";
  const svg = document.createElementNS(svgNS, "svg");
  svg.setAttribute("class", "sparkline");
  svg.setAttribute("viewBox", "0 0 120 32");
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `${s.symbol}, last ${sparkPoints} prices`);
  const line = document.createElementNS(svgNS, "polyline");
  svg.append(line);
  item.append(head, price, change, svg);
  return { item, price, change, line, history: [s.price], timer: 0 };
}

// draw draws the sparkline of the prices in history.
function draw(view) {
  const h = view.history;
  const lo = Math.min(...h);
  const hi = Math.max(...h);
  const span = hi - lo || 1;
  const step = 120 / (sparkPoints - 1);
  const x0 = 120 - (h.length - 1) * step;
  view.line.setAttribute("points", h.map((p, i) => `${(x0 + i * step).toFixed(1)},${(30 - ((p - lo) / span) * 28).toFixed(1)}`).join(" "));
}

// update shows a tick on its symbol's card.
function update(view, tick) {
  view.price.textContent = money.format(tick.price);
  view.change.textContent = signed.format(tick.change);
  const dir = tick.change > 0 ? "up" : tick.change < 0 ? "down" : "flat";
  view.item.dataset.direction = dir;
  view.item.dataset.ticks = String(Number(view.item.dataset.ticks) + 1);
  view.item.dataset.price = String(tick.price);
  view.price.classList.remove("flash-up", "flash-down");
  if (dir !== "flat") {
    void view.price.offsetWidth; // restart the animation
    view.price.classList.add(`flash-${dir}`);
    clearTimeout(view.timer);
    view.timer = setTimeout(() => view.price.classList.remove(`flash-${dir}`), flashMillis);
  }
  view.history.push(tick.price);
  if (view.history.length > sparkPoints) {
    view.history.shift();
  }
  draw(view);
}

// follow closes the current stream, if any, and opens one for exactly the
// chosen symbols.
function follow() {
  if (source) {
    source.close();
    source = null;
  }
  received = new Set();
  board.dataset.received = "";
  const list = [...symbols.keys()].filter((s) => chosen.has(s));
  board.dataset.subscribed = list.join(" ");
  if (list.length === 0) {
    connection.textContent = "Pick one or more symbols.";
    delete connection.dataset.state;
    return;
  }
  connection.textContent = "Connecting…";
  delete connection.dataset.state;
  source = subscribe("/events", list.map((s) => `stocks/${s}`), {
    json: true,
    onState: (state, info) => {
      if (state === "open") {
        connection.textContent = `Following ${list.join(", ")}.`;
        connection.dataset.state = "open";
      } else if (state === "reconnecting") {
        connection.textContent = "Reconnecting…";
        connection.dataset.state = "error";
      } else if (state === "closed" && info.error) {
        connection.textContent = `Stopped: ${info.error.message}`;
        connection.dataset.state = "error";
      }
    },
    onEvent: ({ data: tick }) => {
      if (!tick || typeof tick.symbol !== "string") {
        return;
      }
      received.add(tick.symbol);
      board.dataset.received = [...received].sort().join(" ");
      const s = symbols.get(tick.symbol);
      if (s && s.view) {
        update(s.view, tick);
      }
    },
  });
}

// toggle follows or stops following symbol, then resubscribes.
function toggle(symbol, button) {
  const s = symbols.get(symbol);
  if (chosen.has(symbol)) {
    chosen.delete(symbol);
    s.view.item.remove();
    s.view = null;
  } else {
    chosen.add(symbol);
    s.view = card(s);
    draw(s.view);
    // Keep the board in the market's order.
    const after = [...symbols.values()].slice([...symbols.keys()].indexOf(symbol) + 1).find((o) => o.view);
    board.insertBefore(s.view.item, after ? after.view.item : null);
  }
  button.setAttribute("aria-pressed", String(chosen.has(symbol)));
  follow();
}

async function start() {
  try {
    const resp = await fetch("/stocks/symbols");
    const body = await resp.json();
    if (!resp.ok) {
      throw new Error(body.error || resp.statusText);
    }
    for (const s of body.symbols) {
      symbols.set(s.symbol, { ...s, view: null });
      const button = document.createElement("button");
      button.type = "button";
      button.className = "stock-toggle";
      button.dataset.symbol = s.symbol;
      button.title = s.name;
      button.textContent = s.symbol;
      button.setAttribute("aria-pressed", "false");
      button.addEventListener("click", () => toggle(s.symbol, button));
      picker.append(button);
    }
  } catch (err) {
    errorElement.textContent = `Could not load the symbols: ${err.message}`;
  }
}

start();
