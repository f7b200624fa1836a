// System metrics: GET /metrics/history for the last minutes, then the hub's
// stream of topic system/metrics (herald.js) from the newest of them, drawn
// on <canvas>.
import { subscribe } from "/herald.js";

const MAX_POINTS = 300; // five minutes at one sample a second

const connectionElement = document.getElementById("connection");
const toggle = document.getElementById("toggle");
const tiles = document.getElementById("tiles");
const updated = document.getElementById("updated");

// points holds the samples drawn, oldest first, at most MAX_POINTS.
const points = [];
let lastEventId = "";
let sub = null; // the subscription, while not paused
let paused = false;

function setConnection(state, text) {
  connectionElement.dataset.state = state;
  connectionElement.textContent = text;
}

// ---- formatting ----

function formatBytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (Math.abs(n) >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n >= 100 || i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
}

function formatRate(n) {
  return `${formatBytes(n)}/s`;
}

function formatNumber(n) {
  if (n >= 100) return String(Math.round(n));
  if (n >= 10) return n.toFixed(1);
  return String(Math.round(n * 100) / 100);
}

function formatPercent(n) {
  return `${n.toFixed(1)} %`;
}

// ---- the samples ----

// toPoint keeps what the charts and tiles need of a sample; a value the
// server could not read is null.
function toPoint(s) {
  const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : null);
  const mem = s.memory || null;
  const net = s.network || null;
  const herald = s.herald || {};
  return {
    time: Date.parse(s.time) || Date.now(),
    interval: num(s.interval_ms) > 0 ? s.interval_ms : 1000,
    cpu: num(s.cpu_percent),
    memUsed: mem ? num(mem.used_bytes) : null,
    memTotal: mem ? num(mem.total_bytes) : null,
    memAvailable: mem ? num(mem.available_bytes) : null,
    load: s.load ? [num(s.load.load1), num(s.load.load5), num(s.load.load15)] : null,
    netIn: net ? num(net.in_bytes_per_sec) : null,
    netOut: net ? num(net.out_bytes_per_sec) : null,
    loopIn: net ? num(net.loopback_in_bytes_per_sec) : null,
    loopOut: net ? num(net.loopback_out_bytes_per_sec) : null,
    streams: num(herald.streams),
    published: num(herald.published_per_sec),
    delivered: num(herald.delivered_per_sec),
  };
}

function addSample(s) {
  if (!s || typeof s !== "object") return;
  points.push(toPoint(s));
  if (points.length > MAX_POINTS) points.splice(0, points.length - MAX_POINTS);
}

function setTile(id, text) {
  document.getElementById(id).textContent = text;
}

const unavailable = "unavailable";

function showTiles() {
  const p = points[points.length - 1];
  if (!p) return;
  setTile("tile-cpu", p.cpu === null ? unavailable : formatPercent(p.cpu));
  if (p.memUsed === null) {
    setTile("tile-memory", unavailable);
    setTile("tile-memory-detail", "");
  } else {
    setTile("tile-memory", formatBytes(p.memUsed));
    setTile("tile-memory-detail", `of ${formatBytes(p.memTotal)}, ${formatBytes(p.memAvailable)} available`);
  }
  setTile("tile-load", p.load === null ? unavailable : p.load.map((v) => (v === null ? "–" : v.toFixed(2))).join(" "));
  if (p.netIn === null) {
    setTile("tile-network", unavailable);
    setTile("tile-network-detail", "");
  } else {
    setTile("tile-network", `↓ ${formatRate(p.netIn)}\n↑ ${formatRate(p.netOut)}`);
    setTile("tile-network-detail", `loopback ↓ ${formatRate(p.loopIn)} ↑ ${formatRate(p.loopOut)}`);
  }
  setTile("tile-streams", p.streams === null ? unavailable : String(p.streams));
  setTile("tile-events", p.published === null ? unavailable : `${formatNumber(p.published)}, ${formatNumber(p.delivered)}`);
  tiles.dataset.samples = String(Number(tiles.dataset.samples) + 1);
  updated.textContent = `Updated ${new Date(p.time).toLocaleTimeString()}.`;
}

// ---- the charts ----

// niceMax rounds a positive maximum up to 1, 2 or 5 times a power of ten.
function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) {
    if (v <= m * p) return m * p;
  }
  return 10 * p;
}

// niceBytes is niceMax in the unit formatBytes shows, so the axis reads
// 200 KiB/s rather than 195.3 KiB/s.
function niceBytes(v) {
  let unit = 1;
  while (v >= 1024 * unit && unit < Math.pow(1024, 4)) unit *= 1024;
  return niceMax(v / unit) * unit;
}

const charts = [
  {
    canvas: document.getElementById("chart-cpu"),
    name: "CPU",
    series: [{ value: (p) => p.cpu, color: "--chart-1" }],
    max: () => 100,
    format: (v) => `${Math.round(v)} %`,
  },
  {
    canvas: document.getElementById("chart-memory"),
    name: "Memory used",
    series: [{ value: (p) => p.memUsed, color: "--chart-1" }],
    max: (ps) => Math.max(1, ...ps.map((p) => p.memTotal || 0)),
    format: formatBytes,
  },
  {
    canvas: document.getElementById("chart-network"),
    name: "Network",
    series: [
      { value: (p) => p.netIn, color: "--chart-1", label: "in" },
      { value: (p) => p.netOut, color: "--chart-2", label: "out" },
    ],
    max: (ps) => niceBytes(Math.max(0, ...ps.map((p) => Math.max(p.netIn || 0, p.netOut || 0)))),
    format: formatRate,
  },
  {
    canvas: document.getElementById("chart-delivered"),
    name: "Events delivered per second",
    series: [{ value: (p) => p.delivered, color: "--chart-1" }],
    max: (ps) => niceMax(Math.max(0, ...ps.map((p) => p.delivered || 0))),
    format: formatNumber,
  },
];

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

// describe is a chart's text alternative: latest, lowest and highest value
// of each series.
function describe(chart) {
  const parts = chart.series.map((s) => {
    const vs = points.map(s.value).filter((v) => v !== null);
    if (vs.length === 0) return `${s.label || chart.name} unavailable`;
    const f = chart.format;
    return `${s.label || "now"} ${f(vs[vs.length - 1])} (lowest ${f(Math.min(...vs))}, highest ${f(Math.max(...vs))})`;
  });
  return `${chart.name}, last ${points.length} samples: ${parts.join("; ")}`;
}

// draw draws one chart at the canvas's CSS size times the device pixel
// ratio, so lines stay crisp on high-DPI screens.
function draw(chart) {
  const canvas = chart.canvas;
  const dpr = window.devicePixelRatio || 1;
  const cssWidth = canvas.clientWidth;
  const cssHeight = canvas.clientHeight;
  if (cssWidth === 0 || cssHeight === 0) return;
  const width = Math.round(cssWidth * dpr);
  const height = Math.round(cssHeight * dpr);
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, cssWidth, cssHeight);

  const font = `12px ${cssVar("--font") || "sans-serif"}`;
  ctx.font = font;
  const max = chart.max(points);
  const labels = [max, max / 2, 0].map(chart.format);
  const left = Math.ceil(Math.max(...labels.map((l) => ctx.measureText(l).width))) + 8;
  const top = 8;
  const bottom = 20;
  const right = 8;
  const plotW = Math.max(1, cssWidth - left - right);
  const plotH = Math.max(1, cssHeight - top - bottom);

  // Grid and y axis: 0, half and the maximum.
  ctx.strokeStyle = cssVar("--border");
  ctx.fillStyle = cssVar("--muted");
  ctx.lineWidth = 1;
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  labels.forEach((label, i) => {
    const y = Math.round(top + (plotH * i) / 2) + 0.5;
    ctx.beginPath();
    ctx.moveTo(left, y);
    ctx.lineTo(left + plotW, y);
    ctx.stroke();
    ctx.fillText(label, left - 6, y);
  });

  // x axis: the span of time the chart can hold, now on the right.
  const now = points.length ? points[points.length - 1].time : Date.now();
  const interval = points.length ? points[points.length - 1].interval : 1000;
  const spanMs = (MAX_POINTS - 1) * interval;
  const start = now - spanMs;
  ctx.textBaseline = "alphabetic";
  ctx.textAlign = "left";
  const minutes = Math.round(spanMs / 60000);
  ctx.fillText(minutes >= 1 ? `−${minutes} min` : `−${Math.round(spanMs / 1000)} s`, left, cssHeight - 4);
  ctx.textAlign = "right";
  ctx.fillText("now", left + plotW, cssHeight - 4);

  // The series: a line, broken where a value is missing.
  let drawn = 0;
  const x = (t) => left + ((t - start) / spanMs) * plotW;
  const y = (v) => top + plotH - (Math.min(v, max) / max) * plotH;
  ctx.lineWidth = 2;
  ctx.lineJoin = "round";
  for (const s of chart.series) {
    ctx.strokeStyle = cssVar(s.color);
    ctx.beginPath();
    let pen = false;
    for (const p of points) {
      const v = s.value(p);
      if (v === null) {
        pen = false;
        continue;
      }
      if (pen) ctx.lineTo(x(p.time), y(v));
      else ctx.moveTo(x(p.time), y(v));
      pen = true;
      drawn++;
    }
    ctx.stroke();
  }
  canvas.dataset.points = String(drawn);
  canvas.dataset.newest = String(points.length ? points[points.length - 1].time : 0);
  canvas.setAttribute("aria-label", describe(chart));
}

let frame = 0;

// redraw draws every chart at the next animation frame, once however many
// samples arrived before it.
function redraw() {
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    charts.forEach(draw);
  });
}

new ResizeObserver(redraw).observe(document.querySelector(".metrics-charts"));
window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", redraw);

// ---- the stream ----

function connect() {
  setConnection("connecting", "Connecting…");
  // From the last sample seen: the hub replays what was missed.
  sub = subscribe("/events", "system/metrics", {
    lastEventId,
    json: true,
    events: ["metrics"],
    onState: (state, info) => {
      if (state === "open") {
        setConnection("open", "Connected.");
      } else if (state === "reconnecting") {
        setConnection("error", "Connection lost. Reconnecting…");
      } else if (state === "closed" && info.error) {
        setConnection("error", `Stopped: ${info.error.message}`);
      }
    },
    onEvent: (event) => {
      lastEventId = event.lastEventId || lastEventId;
      addSample(event.data);
      showTiles();
      redraw();
    },
  });
}

toggle.addEventListener("click", function () {
  paused = !paused;
  toggle.setAttribute("aria-pressed", String(paused));
  toggle.textContent = paused ? "Resume updates" : "Pause updates";
  if (paused) {
    sub.close();
    setConnection("paused", "Paused.");
  } else {
    connect();
  }
});

async function start() {
  try {
    const resp = await fetch("/metrics/history");
    if (resp.ok) {
      const body = await resp.json();
      (body.samples || []).forEach(addSample);
      lastEventId = body.last_event_id || "";
      showTiles();
      redraw();
    }
  } catch {
    // No history: the charts start empty and fill as samples arrive.
  }
  connect();
}

start();
