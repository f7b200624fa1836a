// herald.js: a client for herald's Server-Sent Events hub, in browsers and in
// Node (20 or later). One ES module, no dependencies, no build step.
//
//   import { subscribe, publish } from "/herald.js";
//   const sub = subscribe("/events", ["chat/*"], { token, json: true, persist: true,
//     onEvent: (e) => console.log(e.type, e.data, e.lastEventId),
//     onReplayed: (n) => console.log(`${n} missed events replayed`) });
//   await publish("/events", "chat/lobby", { text: "hi" }, { token });
//
// js/README.md documents every option; docs/herald-js.md the choices made.

/** The version of this file, as in its package.json. */
export const version = "0.1.0";

/** The default maximum size of a line, and of one event's data, in bytes. */
export const DEFAULT_MAX_SIZE = 1 << 20;

/** The reconnection time used until the server sends `retry:`, in ms. */
export const DEFAULT_RETRY = 3000;

/** The ceiling of the reconnection backoff before jitter, in ms. */
export const DEFAULT_MAX_DELAY = 30000;

// The largest retry value herald's Go decoder accepts (a time.Duration in
// milliseconds); larger values are ignored, as non-digits are.
const MAX_RETRY_DIGITS = "9223372036854";

// The longest delay setTimeout can wait.
const MAX_TIMEOUT = 2 ** 31 - 1;

/**
 * The error herald.js reports: a refused request (`status` is the HTTP
 * status, `message` herald's `{"error"}` message), a stream it cannot read
 * (`code` "too_large", "not_event_stream"), or an event whose data is not
 * the JSON it was asked to parse (`code` "bad_json", `event` the event).
 */
export class HeraldError extends Error {
  /**
   * @param {string} message
   * @param {{status?: number, code?: string, body?: unknown, event?: object, cause?: unknown}} [details]
   */
  constructor(message, details = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = "HeraldError";
    /** The HTTP status of a refused request; 0 otherwise. */
    this.status = details.status ?? 0;
    /** A short name for what went wrong, such as "http", "too_large" or "bad_json". */
    this.code = details.code ?? (details.status ? "http" : "");
    /** The parsed JSON body of a refused request, if it had one. */
    this.body = details.body;
    /** The event whose data could not be parsed, for "bad_json". */
    this.event = details.event;
  }
}

const CR = 0x0d;
const LF = 0x0a;
const COLON = 0x3a;
const SPACE = 0x20;

/**
 * Parser reads an event stream as the WHATWG HTML Standard says a browser's
 * EventSource does (9.2.5, 9.2.6), from bytes fed in chunks of any size. It
 * holds at most one line and one event in memory, each bounded by maxSize.
 * It is what subscribe uses on its fetch path, exported for streams you
 * read yourself.
 */
export class Parser {
  #onEvent;
  #onRetry;
  #onComment;
  #max;
  #decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  #encoder = null;
  #partial = []; // chunks of an unterminated line
  #partialSize = 0;
  #skipLF = false; // the last chunk ended with CR: a leading LF belongs to it
  #started = false; // the first line (and its BOM) is behind
  #data = [];
  #dataSize = 0;
  #hasData = false;
  #type = "";
  #idBuffer;
  #lastEventId;
  #blockRetry = undefined;
  #retry = undefined;
  #error = null;

  /**
   * @param {object} [options]
   * @param {(event: {type: string, data: string, lastEventId: string, retry?: number}) => void} [options.onEvent]
   *   called for each dispatched event; type is "message" when the stream named none, and retry is
   *   the reconnection time set in the event's own block, if any.
   * @param {(ms: number) => void} [options.onRetry] called when a valid `retry:` field is read.
   * @param {(text: string) => void} [options.onComment] called for each comment line, without its colon.
   * @param {string} [options.lastEventId] the last event ID to start from (a resumed stream's).
   * @param {number} [options.maxSize] the longest line, and the most data one event may hold, in bytes.
   */
  constructor(options = {}) {
    this.#onEvent = options.onEvent ?? (() => {});
    this.#onRetry = options.onRetry ?? (() => {});
    this.#onComment = options.onComment ?? null;
    this.#max = options.maxSize > 0 ? options.maxSize : DEFAULT_MAX_SIZE;
    this.#lastEventId = options.lastEventId ?? "";
    this.#idBuffer = this.#lastEventId;
  }

  /** The stream's last event ID: the latest `id:` whose block has ended. */
  get lastEventId() {
    return this.#lastEventId;
  }

  /** The latest reconnection time the stream asked for, in ms, or undefined. */
  get retry() {
    return this.#retry;
  }

  /**
   * Feeds the next chunk of the stream, dispatching every event it
   * completes. A line or event data longer than maxSize throws a
   * HeraldError with code "too_large", after the events before it; from
   * then on feed throws that error again.
   * @param {Uint8Array | string} chunk
   */
  feed(chunk) {
    if (this.#error) {
      throw this.#error;
    }
    if (typeof chunk === "string") {
      this.#encoder ??= new TextEncoder();
      chunk = this.#encoder.encode(chunk);
    }
    let i = 0;
    if (this.#skipLF && chunk.length > 0) {
      this.#skipLF = false;
      if (chunk[0] === LF) {
        i = 1;
      }
    }
    while (i < chunk.length) {
      const end = lineEnd(chunk, i);
      if (end < 0) {
        const rest = chunk.subarray(i);
        if (this.#partialSize + rest.length > this.#max) {
          this.#fail(`line longer than ${this.#max} bytes`);
        }
        // Copy: the caller may reuse its buffer.
        this.#partial.push(rest.slice());
        this.#partialSize += rest.length;
        break;
      }
      let line = chunk.subarray(i, end);
      if (this.#partialSize > 0) {
        line = concat(this.#partial, this.#partialSize, line);
        this.#partial = [];
        this.#partialSize = 0;
      }
      if (line.length > this.#max) {
        this.#fail(`line longer than ${this.#max} bytes`);
      }
      i = end + 1;
      if (chunk[end] === CR) {
        if (i < chunk.length) {
          if (chunk[i] === LF) {
            i++;
          }
        } else {
          this.#skipLF = true;
        }
      }
      this.#line(line);
    }
  }

  /**
   * Ends the stream: the event being built, its unterminated line and its
   * uncommitted ID are discarded, as the standard says. The parser can then
   * read a new stream (a reconnection), keeping its last event ID.
   */
  end() {
    this.#partial = [];
    this.#partialSize = 0;
    this.#skipLF = false;
    this.#started = false;
    this.#resetEvent();
    this.#idBuffer = this.#lastEventId;
    this.#error = null;
  }

  #fail(message) {
    this.#error = new HeraldError(`herald.js: ${message}`, { code: "too_large" });
    throw this.#error;
  }

  #resetEvent() {
    this.#data = [];
    this.#dataSize = 0;
    this.#hasData = false;
    this.#type = "";
    this.#blockRetry = undefined;
  }

  // #line interprets one line, without its end, as 9.2.6 says.
  #line(bytes) {
    if (!this.#started) {
      this.#started = true;
      if (bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
        bytes = bytes.subarray(3);
      }
    }
    if (bytes.length === 0) {
      this.#dispatch();
      return;
    }
    if (bytes[0] === COLON) {
      if (this.#onComment) {
        this.#onComment(this.#decode(bytes.subarray(1)));
      }
      return;
    }
    const colon = bytes.indexOf(COLON);
    let name = bytes;
    let value = bytes.subarray(bytes.length);
    if (colon >= 0) {
      name = bytes.subarray(0, colon);
      value = bytes.subarray(colon + 1);
      if (value.length > 0 && value[0] === SPACE) {
        value = value.subarray(1);
      }
    }
    switch (this.#decode(name)) {
      case "event":
        this.#type = this.#decode(value);
        break;
      case "data": {
        const text = this.#decode(value);
        const size = utf8Length(text);
        if (this.#dataSize + size + 1 > this.#max) {
          this.#fail(`event data longer than ${this.#max} bytes`);
        }
        this.#data.push(text);
        this.#dataSize += size + 1;
        this.#hasData = true;
        break;
      }
      case "id":
        if (!value.includes(0)) {
          this.#idBuffer = this.#decode(value);
        }
        break;
      case "retry": {
        const ms = parseRetry(value);
        if (ms !== undefined) {
          this.#retry = ms;
          this.#blockRetry = ms;
          this.#onRetry(ms);
        }
        break;
      }
    }
  }

  #dispatch() {
    this.#lastEventId = this.#idBuffer;
    if (!this.#hasData) {
      this.#resetEvent();
      return;
    }
    const event = { type: this.#type || "message", data: this.#data.join("\n"), lastEventId: this.#lastEventId };
    if (this.#blockRetry !== undefined) {
      event.retry = this.#blockRetry;
    }
    this.#resetEvent();
    this.#onEvent(event);
  }

  #decode(bytes) {
    return bytes.length === 0 ? "" : this.#decoder.decode(bytes);
  }
}

// lineEnd returns the index of the first CR or LF in b at or after from, or -1.
function lineEnd(b, from) {
  const lf = b.indexOf(LF, from);
  const cr = b.indexOf(CR, from);
  if (lf < 0) {
    return cr;
  }
  return cr >= 0 && cr < lf ? cr : lf;
}

function concat(parts, size, last) {
  const out = new Uint8Array(size + last.length);
  let n = 0;
  for (const p of parts) {
    out.set(p, n);
    n += p.length;
  }
  out.set(last, n);
  return out;
}

// utf8Length returns how many bytes s takes in UTF-8.
function utf8Length(s) {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      n += 1;
    } else if (c < 0x800) {
      n += 2;
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      n += 4;
      i++;
    } else {
      n += 3;
    }
  }
  return n;
}

// parseRetry reads a retry value: ASCII digits only, at least one, at most
// MAX_RETRY_DIGITS. Anything else gives undefined.
function parseRetry(bytes) {
  if (bytes.length === 0) {
    return undefined;
  }
  let start = 0;
  for (const c of bytes) {
    if (c < 0x30 || c > 0x39) {
      return undefined;
    }
  }
  while (start < bytes.length - 1 && bytes[start] === 0x30) {
    start++;
  }
  const digits = String.fromCharCode(...bytes.subarray(start, start + MAX_RETRY_DIGITS.length + 1));
  if (digits.length > MAX_RETRY_DIGITS.length || (digits.length === MAX_RETRY_DIGITS.length && digits > MAX_RETRY_DIGITS)) {
    return undefined;
  }
  return Number(digits);
}

/**
 * reconnectDelay returns how long to wait before the next connection
 * attempt, in ms: the reconnection time after a stream that was open
 * (failures 0) or after the first failed attempt, doubling with each further
 * consecutive failure up to maxDelay (or retry, if larger), plus a random
 * jitter of up to half of that, so that many clients spread out.
 * @param {number} retry the reconnection time, in ms
 * @param {number} failures consecutive failed attempts before this one
 * @param {number} [maxDelay] the backoff's ceiling before jitter, in ms
 * @param {() => number} [random] a source of numbers in [0, 1)
 */
export function reconnectDelay(retry, failures, maxDelay = DEFAULT_MAX_DELAY, random = Math.random) {
  let base = retry;
  if (failures > 1) {
    // A server's retry: 0 must not turn a refusing server into a busy loop.
    base = Math.min(Math.max(retry, maxDelay), Math.max(retry, 100) * 2 ** Math.min(failures - 1, 30));
  }
  return Math.min(MAX_TIMEOUT, Math.round(base + (base / 2) * random()));
}

// fatal reports whether an HTTP status ends a subscription for good: 204
// (the server says there is nothing to follow) and the client's mistakes,
// 4xx, except 408 (timeout) and 429 (too many), which may pass.
function fatal(status) {
  return status === 204 || (status >= 400 && status < 500 && status !== 408 && status !== 429);
}

// refusal reads a refused response's body into a HeraldError carrying
// herald's {"error"} message.
async function refusal(res, what) {
  let body;
  let message = "";
  try {
    const text = await res.text();
    try {
      body = JSON.parse(text);
      if (body && typeof body.error === "string") {
        message = body.error;
      }
    } catch {
      message = text.trim().slice(0, 200);
    }
  } catch {
    // The body could not be read: the status says enough.
  }
  const status = `${res.status}${res.statusText ? ` ${res.statusText}` : ""}`;
  return new HeraldError(message ? `${what}: ${status}: ${message}` : `${what}: ${status}`, { status: res.status, body });
}

function isEventStream(res) {
  const type = (res.headers.get("Content-Type") || "").split(";")[0].trim().toLowerCase();
  return type === "text/event-stream";
}

// retryAfter returns the Retry-After header of res in ms, or 0.
function retryAfter(res) {
  const v = res.headers.get("Retry-After");
  return v && /^\d+$/.test(v.trim()) ? Number(v.trim()) * 1000 : 0;
}

// report hands an exception thrown by a caller's callback to the
// environment, as an event listener's would be, without stopping the stream.
function report(err) {
  if (typeof globalThis.reportError === "function") {
    globalThis.reportError(err);
  } else {
    queueMicrotask(() => {
      throw err;
    });
  }
}

function storageOf(persist) {
  if (!persist) {
    return null;
  }
  if (typeof persist === "object" && typeof persist.getItem === "function" && typeof persist.setItem === "function") {
    return persist;
  }
  const name = persist === "local" ? "localStorage" : persist === true || persist === "session" ? "sessionStorage" : "";
  if (!name) {
    throw new TypeError(`herald.js: persist must be true, "session", "local" or a Storage; got ${String(persist)}`);
  }
  let storage;
  try {
    storage = globalThis[name];
  } catch (err) {
    throw new TypeError(`herald.js: persist: ${name} is not available here (${err.message}); pass a Storage-like object`);
  }
  if (!storage) {
    throw new TypeError(`herald.js: persist: ${name} is not available here; pass a Storage-like object`);
  }
  return storage;
}

function resolveURL(url) {
  try {
    return new URL(url, globalThis.location?.href);
  } catch {
    throw new TypeError(`herald.js: bad URL ${JSON.stringify(String(url))}: outside a page, give an absolute URL`);
  }
}

/**
 * subscribe follows an event stream, usually herald's `GET /events` for
 * some topics, and returns a Subscription, already connecting. It reconnects
 * on its own and resumes after the last event it delivered; see
 * js/README.md.
 *
 * It connects with `fetch` when it must send a header (a token, or
 * `headers`) or wants every event type (`events: "*"`), or when there is no
 * EventSource (Node 20); otherwise with the browser's EventSource.
 *
 * @param {string | URL} url the stream's URL, such as "/events" or "https://herald.example/events"
 * @param {string | string[] | null} topics topics or patterns, each added as a `topic` query
 *   parameter; null or [] for a URL that needs none
 * @param {object} [options]
 * @param {string | (() => string | Promise<string>)} [options.token] a bearer token, or a function
 *   called before each connection that returns a fresh one
 * @param {Record<string, string>} [options.headers] more request headers (fetch path)
 * @param {string} [options.lastEventId] resume after this event ID
 * @param {boolean | "session" | "local" | Storage} [options.persist] keep the last event ID in
 *   sessionStorage (true, "session"), localStorage ("local") or the given storage, keyed by URL
 *   and topics, so a reloaded page resumes where it left off
 * @param {boolean} [options.json] parse each event's data as JSON
 * @param {string[] | "*"} [options.events] the event types to deliver (["message"], the events
 *   the stream names no type for); "*" for all (fetch path only)
 * @param {(event: {type: string, data: any, lastEventId: string}) => void} [options.onEvent]
 * @param {(gap: {lastEventId: string, reason: string}) => void} [options.onGap] the history could
 *   not reach back to the ID resumed from (herald:gap); what it still holds follows
 * @param {(count: number) => void} [options.onReplayed] how many events a resumed stream replayed
 *   from history (herald:replayed)
 * @param {(state: "connecting" | "open" | "reconnecting" | "closed", info: object) => void} [options.onState]
 * @param {(error: HeraldError | Error) => void} [options.onError] a failed connection, or an event
 *   whose data was not JSON
 * @param {number} [options.retry] the reconnection time until the server sends one, ms (3000)
 * @param {number} [options.maxDelay] the backoff's ceiling before jitter, ms (30000)
 * @param {number} [options.maxSize] the longest line and event data, bytes (1 MiB; fetch path)
 * @param {boolean} [options.withCredentials] send cookies cross-origin
 * @param {"auto" | "fetch" | "eventsource"} [options.transport] force a transport
 * @param {typeof fetch} [options.fetch] the fetch to use (the global one)
 * @param {typeof EventSource} [options.EventSource] the EventSource to use (the global one)
 * @returns {Subscription}
 */
export function subscribe(url, topics, options = {}) {
  return new Subscription(url, topics, options);
}

/**
 * Subscription is one followed stream. Its state, last event ID and replay
 * count can be read at any time; close ends it.
 */
export class Subscription {
  #o;
  #url;
  #storage = null;
  #storageKey = "";
  #transport;
  #state = "connecting";
  #lastEventId;
  #replayed = null;
  #retry;
  #failures = 0;
  #gen = 0; // counts connections: a callback of an old one does nothing
  #timer = null;
  #abort = null;
  #es = null;
  #closed = false;
  #error = null;
  #resolveClosed;
  #types;

  /** @private Use subscribe. */
  constructor(url, topics, options) {
    const o = { ...options };
    for (const name of ["onEvent", "onGap", "onReplayed", "onState", "onError"]) {
      if (o[name] !== undefined && typeof o[name] !== "function") {
        throw new TypeError(`herald.js: ${name} must be a function`);
      }
    }
    this.#o = o;
    this.#url = resolveURL(url);
    const list = topics == null ? [] : typeof topics === "string" ? [topics] : [...topics];
    for (const t of list) {
      if (typeof t !== "string" || t === "") {
        throw new TypeError(`herald.js: a topic must be a non-empty string, got ${JSON.stringify(t)}`);
      }
      this.#url.searchParams.append("topic", t);
    }
    if (o.events !== undefined && o.events !== "*" && !Array.isArray(o.events)) {
      throw new TypeError('herald.js: events must be an array of event types or "*"');
    }
    this.#types = o.events === "*" ? null : new Set(o.events ?? ["message"]);
    this.#retry = o.retry >= 0 ? o.retry : DEFAULT_RETRY;

    this.#storage = storageOf(o.persist);
    if (this.#storage) {
      // The same stream whatever the order of its topics, and whatever
      // token rides in its URL.
      const key = new URL(this.#url);
      const params = [...key.searchParams].filter(([name]) => name !== "lastEventId" && name !== "access_token");
      params.sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0));
      key.search = new URLSearchParams(params).toString();
      this.#storageKey = `herald.js lastEventId ${key.href}`;
    }
    this.#lastEventId = o.lastEventId || this.#load() || "";

    const needsFetch = o.token !== undefined || (o.headers && Object.keys(o.headers).length > 0) || o.events === "*";
    const ES = o.EventSource ?? globalThis.EventSource;
    const transport = o.transport ?? "auto";
    if (transport === "eventsource") {
      if (!ES) {
        throw new TypeError("herald.js: transport eventsource: there is no EventSource here");
      }
      if (needsFetch) {
        throw new TypeError('herald.js: transport eventsource cannot send a token or headers, nor deliver events: "*"');
      }
      this.#transport = "eventsource";
    } else if (transport === "fetch" || transport === "auto") {
      this.#transport = transport === "fetch" || needsFetch || !ES ? "fetch" : "eventsource";
    } else {
      throw new TypeError(`herald.js: transport must be "auto", "fetch" or "eventsource", got ${JSON.stringify(transport)}`);
    }
    if (this.#transport === "fetch" && typeof (o.fetch ?? globalThis.fetch) !== "function") {
      throw new TypeError("herald.js: there is no fetch here");
    }

    /**
     * Settles when the subscription ends, by close or for good after a
     * refusal: with null, or the error that ended it. It never rejects.
     * @type {Promise<HeraldError | Error | null>}
     */
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
    // Start after subscribe returns, so callbacks can use its result.
    const gen = this.#gen;
    queueMicrotask(() => {
      if (!this.#closed && gen === this.#gen) {
        this.#setState("connecting", {}, true);
        this.#connect();
      }
    });
  }

  /** "connecting", "open", "reconnecting" or "closed". */
  get state() {
    return this.#state;
  }

  /** The ID of the last event received, sent when resuming. */
  get lastEventId() {
    return this.#lastEventId;
  }

  /**
   * How many events the latest resumed connection replayed from history,
   * once herald has said (herald:replayed); null before.
   */
  get replayed() {
    return this.#replayed;
  }

  /** "fetch" or "eventsource": how this subscription connects. */
  get transport() {
    return this.#transport;
  }

  /** The URL followed, topics included. */
  get url() {
    return this.#url.href;
  }

  /** The error that ended the subscription, if one did. */
  get error() {
    return this.#error;
  }

  /**
   * close ends the subscription: the request is aborted or the EventSource
   * closed, no timer is left, no callback is called after onState("closed").
   */
  close() {
    this.#finish(null);
  }

  #finish(error, info = {}) {
    if (this.#closed) {
      return;
    }
    this.#closed = true;
    this.#gen++;
    this.#error = error;
    clearTimeout(this.#timer);
    this.#timer = null;
    this.#abort?.abort();
    this.#abort = null;
    this.#es?.close();
    this.#es = null;
    if (error) {
      this.#call("onError", error);
    }
    this.#setState("closed", { ...info, error: error ?? undefined });
    this.#resolveClosed(error);
  }

  #setState(state, info, force = false) {
    if (this.#state === state && state !== "reconnecting" && !force) {
      return;
    }
    this.#state = state;
    this.#call("onState", state, info);
  }

  #call(name, ...args) {
    const fn = this.#o[name];
    if (!fn) {
      return;
    }
    try {
      fn(...args);
    } catch (err) {
      report(err);
    }
  }

  #load() {
    if (!this.#storage) {
      return "";
    }
    try {
      return this.#storage.getItem(this.#storageKey) || "";
    } catch {
      return "";
    }
  }

  #save(id) {
    if (!this.#storage) {
      return;
    }
    try {
      if (id) {
        this.#storage.setItem(this.#storageKey, id);
      } else {
        this.#storage.removeItem?.(this.#storageKey);
      }
    } catch {
      // A full or refused storage loses only the resume across reloads.
    }
  }

  #connect() {
    this.#timer = null;
    if (this.#closed) {
      return;
    }
    this.#gen++;
    if (this.#transport === "fetch") {
      this.#connectFetch(this.#gen);
    } else {
      this.#connectEventSource(this.#gen);
    }
  }

  // #reconnect schedules the next attempt: after the reconnection time when
  // the last connection was open, with backoff after failed attempts.
  #reconnect(info, minDelay = 0) {
    if (this.#closed) {
      return;
    }
    this.#gen++;
    this.#abort?.abort();
    this.#abort = null;
    this.#es?.close();
    this.#es = null;
    const delay = Math.max(minDelay, reconnectDelay(this.#retry, this.#failures, this.#o.maxDelay ?? DEFAULT_MAX_DELAY));
    if (info.error) {
      this.#call("onError", info.error);
    }
    if (this.#closed) {
      return; // onError closed it
    }
    this.#setState("reconnecting", { ...info, delay, attempt: this.#failures + 1 });
    if (!this.#closed) {
      this.#timer = setTimeout(() => this.#connect(), delay);
    }
  }

  // #refused handles a response that is not a stream: the end for 204 and
  // the client's mistakes, else a failed attempt.
  async #refused(res, gen) {
    if (res.status === 204) {
      this.#finish(null, { status: 204 });
      return;
    }
    const error = await refusal(res, `herald.js: GET ${this.#url.pathname}`);
    if (gen !== this.#gen) {
      return;
    }
    if (fatal(res.status)) {
      this.#finish(error, { status: res.status });
      return;
    }
    this.#failures++;
    this.#reconnect({ error, status: res.status }, retryAfter(res));
  }

  #opened() {
    this.#failures = 0;
    this.#setState("open", {});
  }

  // #deliver handles one event of the stream, whichever the transport.
  #deliver(event) {
    if (event.lastEventId !== this.#lastEventId) {
      this.#lastEventId = event.lastEventId;
      this.#save(event.lastEventId);
    }
    if (event.type === "herald:gap" || event.type === "herald:replayed") {
      let info;
      try {
        info = JSON.parse(event.data);
      } catch (cause) {
        this.#call("onError", new HeraldError(`herald.js: ${event.type} data is not JSON`, { code: "bad_json", event, cause }));
        return;
      }
      if (event.type === "herald:gap") {
        this.#call("onGap", { lastEventId: String(info?.lastEventId ?? ""), reason: String(info?.reason ?? "") });
      } else if (Number.isInteger(info?.count) && info.count >= 0) {
        this.#replayed = info.count;
        this.#call("onReplayed", info.count);
      } else {
        this.#call("onError", new HeraldError("herald.js: herald:replayed without a count", { code: "bad_json", event }));
      }
      return;
    }
    if (this.#types && !this.#types.has(event.type)) {
      return;
    }
    let data = event.data;
    if (this.#o.json) {
      try {
        data = JSON.parse(data);
      } catch (cause) {
        this.#call("onError", new HeraldError(`herald.js: ${event.type} event data is not JSON`, { code: "bad_json", event, cause }));
        return;
      }
    }
    this.#call("onEvent", { type: event.type, data, lastEventId: event.lastEventId });
  }

  async #connectFetch(gen) {
    const o = this.#o;
    const abort = new AbortController();
    this.#abort = abort;
    const headers = { Accept: "text/event-stream", ...o.headers };
    if (this.#lastEventId) {
      headers["Last-Event-ID"] = this.#lastEventId;
    }
    let res;
    try {
      const token = typeof o.token === "function" ? await o.token() : o.token;
      if (gen !== this.#gen) {
        return;
      }
      if (token) {
        headers.Authorization = `Bearer ${token}`;
      }
      const f = o.fetch ?? globalThis.fetch;
      res = await f(this.#url.href, {
        headers,
        signal: abort.signal,
        cache: "no-store",
        credentials: o.withCredentials ? "include" : "same-origin",
      });
    } catch (error) {
      if (gen === this.#gen) {
        this.#failures++;
        this.#reconnect({ error });
      }
      return;
    }
    if (gen !== this.#gen) {
      res.body?.cancel().catch(() => {});
      return;
    }
    if (!res.ok || res.status === 204) {
      await this.#refused(res, gen);
      return;
    }
    if (!isEventStream(res) || !res.body) {
      res.body?.cancel().catch(() => {});
      const type = res.headers.get("Content-Type") || "none";
      this.#finish(new HeraldError(`herald.js: GET ${this.#url.pathname}: not an event stream (Content-Type ${type})`, { status: res.status, code: "not_event_stream" }), { status: res.status });
      return;
    }
    this.#replayed = null;
    const parser = new Parser({
      lastEventId: this.#lastEventId,
      maxSize: o.maxSize,
      onRetry: (ms) => {
        if (gen === this.#gen) {
          this.#retry = ms;
        }
      },
      onEvent: (event) => {
        if (gen === this.#gen) {
          this.#deliver(event);
        }
      },
    });
    this.#opened();
    const reader = res.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done || gen !== this.#gen) {
          break;
        }
        parser.feed(value);
      }
    } catch (error) {
      if (gen === this.#gen) {
        // A broken connection, or a stream too large to read: resume.
        this.#reconnect({ error });
      }
      return;
    } finally {
      reader.cancel().catch(() => {});
    }
    if (gen === this.#gen) {
      this.#reconnect({});
    }
  }

  #connectEventSource(gen) {
    const o = this.#o;
    const ES = o.EventSource ?? globalThis.EventSource;
    const url = new URL(this.#url);
    // A new EventSource cannot send Last-Event-ID: herald reads the query
    // form. The browser sends the header on its own reconnections.
    if (this.#lastEventId) {
      url.searchParams.set("lastEventId", this.#lastEventId);
    }
    const es = new ES(url.href, { withCredentials: Boolean(o.withCredentials) });
    this.#es = es;
    this.#replayed = null;
    const current = () => gen === this.#gen && this.#es === es;
    const onMessage = (e) => {
      if (current()) {
        this.#deliver({ type: e.type, data: e.data, lastEventId: e.lastEventId });
      }
    };
    es.onopen = () => {
      if (current()) {
        this.#replayed = null;
        this.#opened();
      }
    };
    for (const type of new Set(["message", "herald:gap", "herald:replayed", ...(this.#types ?? [])])) {
      if (type !== "error") {
        es.addEventListener(type, onMessage);
      }
    }
    // "error" is both the connection's error and an event type a server
    // may send (a MessageEvent, with data).
    es.addEventListener("error", (e) => {
      if (!current()) {
        return;
      }
      if (e.data !== undefined) {
        onMessage(e);
        return;
      }
      if (es.readyState === ES.CONNECTING) {
        // The browser reconnects by itself, after the server's retry,
        // sending Last-Event-ID.
        this.#setState("reconnecting", { attempt: this.#failures + 1 });
        return;
      }
      // The browser gave up: the server answered something other than a
      // 200 event stream. EventSource does not say what: ask.
      es.close();
      this.#es = null;
      this.#probe(url.href, gen);
    });
  }

  // #probe asks the server, with fetch, what it answers the stream's URL,
  // after an EventSource gave up on it: the end for 204 and the client's
  // mistakes (with herald's message), else another attempt with backoff.
  async #probe(href, gen) {
    const abort = new AbortController();
    this.#abort = abort;
    let res;
    try {
      const f = this.#o.fetch ?? globalThis.fetch;
      res = await f(href, {
        headers: { Accept: "text/event-stream" },
        signal: abort.signal,
        cache: "no-store",
        credentials: this.#o.withCredentials ? "include" : "same-origin",
      });
    } catch (error) {
      if (gen === this.#gen) {
        this.#failures++;
        this.#reconnect({ error });
      }
      return;
    }
    if (gen !== this.#gen) {
      res.body?.cancel().catch(() => {});
      return;
    }
    if (!res.ok || res.status === 204) {
      await this.#refused(res, gen);
      return;
    }
    res.body?.cancel().catch(() => {});
    if (!isEventStream(res)) {
      const type = res.headers.get("Content-Type") || "none";
      this.#finish(new HeraldError(`herald.js: GET ${this.#url.pathname}: not an event stream (Content-Type ${type})`, { status: res.status, code: "not_event_stream" }), { status: res.status });
      return;
    }
    // It serves the stream now: the failure was passing.
    this.#failures++;
    this.#reconnect({ error: new HeraldError(`herald.js: GET ${this.#url.pathname}: the stream failed`, { code: "network" }) });
  }
}

/**
 * presence follows who is subscribed to a topic or pattern on herald
 * (docs/presence.md): it subscribes to `presence/<topic>` for the
 * herald:join and herald:leave events, reads `GET /presence?topic=` (every
 * page) each time the stream opens, and keeps `members`, a Map from
 * subscriber ID to subscriber ({id, topics, node, start, payload}). A leave
 * is final (an ID is one connection), so a listing read after a leave never
 * brings it back. With `join`, the same stream also subscribes to the topic
 * itself, which puts this client in the presence it follows.
 *
 * @param {string | URL} url herald's events URL, such as "/events"; the
 *   listing is read at "presence" next to it ("/presence")
 * @param {string} topic a topic or pattern, such as "chat/lobby"
 * @param {object} [options] subscribe's options (token, headers, onState,
 *   onError, fetch, EventSource, transport, ...), and:
 * @param {boolean} [options.join] also subscribe to topic itself, to be listed
 * @param {unknown} [options.payload] with join and auth off: the payload this
 *   client is listed with (sent as JSON in the `payload` parameter)
 * @param {(members: Map<string, object>) => void} [options.onChange] called
 *   after every change of members
 * @returns {{members: Map<string, object>, subscription: Subscription, close: () => void}}
 */
export function presence(url, topic, options = {}) {
  if (typeof topic !== "string" || topic === "") {
    throw new TypeError(`herald.js: presence: a topic must be a non-empty string, got ${JSON.stringify(topic)}`);
  }
  const { join, payload, onChange, onState, ...rest } = options;
  const target = resolveURL(url);
  const listing = new URL("presence", target);
  if (payload !== undefined) {
    target.searchParams.set("payload", JSON.stringify(payload));
  }
  const members = new Map();
  const left = new Set();
  const changed = () => onChange?.(members);
  let reading = 0;
  // read merges every page of the listing; a newer read makes it stop.
  const read = async () => {
    const mine = ++reading;
    const f = rest.fetch ?? globalThis.fetch;
    let after = "";
    do {
      const q = new URL(listing);
      q.searchParams.set("topic", topic);
      q.searchParams.set("limit", "1000");
      if (after) {
        q.searchParams.set("after", after);
      }
      const headers = { ...rest.headers };
      const token = typeof rest.token === "function" ? await rest.token() : rest.token;
      if (token) {
        headers.Authorization = `Bearer ${token}`;
      }
      const res = await f(q.href, { headers });
      if (!res.ok) {
        throw await refusal(res, `herald.js: presence of ${topic}`);
      }
      const body = await res.json();
      if (mine !== reading || subscription.state === "closed") {
        return;
      }
      for (const s of body.subscribers ?? []) {
        if (!left.has(s.id)) {
          members.set(s.id, s);
        }
      }
      after = body.next || "";
    } while (after);
    changed();
  };
  const topics = join ? [topic, `presence/${topic}`] : [`presence/${topic}`];
  const subscription = subscribe(target, topics, {
    ...rest,
    json: true,
    events: ["herald:join", "herald:leave"],
    onState: (state, info) => {
      if (state === "open") {
        read().catch((err) => rest.onError?.(err));
      }
      onState?.(state, info);
    },
    onEvent: ({ type, data: s }) => {
      if (!s || typeof s.id !== "string") {
        return;
      }
      if (type === "herald:join") {
        if (left.has(s.id)) {
          return;
        }
        const had = members.get(s.id);
        members.set(s.id, had ? { ...had, topics: [...new Set([...had.topics, ...s.topics])] } : s);
      } else {
        members.delete(s.id);
        left.add(s.id);
      }
      changed();
    },
  });
  return { members, subscription, close: () => subscription.close() };
}

/**
 * publish sends one event to herald (`POST /events`) and resolves to its
 * ID. data that is a string is sent as is; any other value as compact JSON.
 * A refusal rejects with a HeraldError whose status is the HTTP status and
 * whose message ends with herald's reason.
 * @param {string | URL} url herald's events URL, such as "/events"
 * @param {string} topic
 * @param {unknown} data
 * @param {object} [options]
 * @param {string} [options.type] the event type; none means "message"
 * @param {string | (() => string | Promise<string>)} [options.token] a bearer token
 * @param {number} [options.retry] a reconnection time for subscribers, ms
 * @param {Record<string, string>} [options.headers] more request headers
 * @param {AbortSignal} [options.signal]
 * @param {typeof fetch} [options.fetch]
 * @returns {Promise<string>}
 */
export async function publish(url, topic, data, options = {}) {
  if (typeof topic !== "string" || topic === "") {
    throw new TypeError(`herald.js: publish: a topic must be a non-empty string, got ${JSON.stringify(topic)}`);
  }
  const target = resolveURL(url);
  const body = { topic };
  if (options.type) {
    body.type = options.type;
  }
  if (data !== undefined) {
    body.data = data;
  }
  if (options.retry !== undefined) {
    body.retry = options.retry;
  }
  const headers = { "Content-Type": "application/json", ...options.headers };
  const token = typeof options.token === "function" ? await options.token() : options.token;
  if (token) {
    headers.Authorization = `Bearer ${token}`;
  }
  const f = options.fetch ?? globalThis.fetch;
  const res = await f(target.href, { method: "POST", headers, body: JSON.stringify(body), signal: options.signal });
  if (!res.ok) {
    throw await refusal(res, `herald.js: publish to ${topic}`);
  }
  const reply = await res.json();
  if (typeof reply?.id !== "string") {
    throw new HeraldError(`herald.js: publish to ${topic}: the answer has no id`, { status: res.status, body: reply });
  }
  return reply.id;
}
