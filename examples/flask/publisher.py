"""Publish events to herald over HTTP, with the Python standard library only.

    from publisher import Publisher, HeraldError

    herald = Publisher("http://localhost:8080", token=os.environ.get("HERALD_TOKEN"))
    event_id = herald.publish("flask/tasks/42", {"status": "running", "progress": 10})

publish() posts {"topic", "type", "data"} to herald's POST /events and returns the
event's ID from herald's 201 {"id": "..."}. Every failure raises a HeraldError
whose message says what happened, carries herald's own JSON {"error": "..."}
when herald answered one, and says whether the event was published:
`published` is False when it certainly was not, None when nobody can know.

Retries. herald has no idempotency key today: a request sent twice may be
stored twice. So this module retries only when the event cannot have been
stored:

  * the connection was refused, so not one byte of the request was sent;
  * herald answered 429 (too many requests: refused before it was handled);
  * herald answered 503 (unavailable: herald is shutting down, or its store
    is unreachable), waiting as long as a Retry-After header asks.

It never retries after the request was sent and no answer came (a timeout, a
connection reset, a malformed answer): herald may have stored the event and
a retry could publish it twice. That failure is a HeraldUncertain, and the
caller decides.

One caveat on 503, from herald's own Redis store: when Redis applied a write
but its reply never reached herald, herald answers 503 although the event is
stored, and the retry stores it a second time. Refused connections to Redis
(a restart, the usual case) store nothing. Subscribers that must never see
a repeat can drop events whose payload they have already seen (the example
app's page does); pass retry_unavailable=False to treat 503 as final instead.
"""

import email.utils
import http.client
import json
import time
import urllib.error
import urllib.request

__all__ = [
    "HeraldError",
    "HeraldRefused",
    "HeraldUnavailable",
    "HeraldUncertain",
    "Publisher",
    "parse_retry_after",
]


class HeraldError(Exception):
    """A publish that failed.

    status is herald's HTTP status (None when herald did not answer), error
    its JSON error message (or the reason when there was none), published
    False when the event certainly was not published and None when it may
    have been, attempts how many requests were sent or tried.
    """

    published = False

    def __init__(self, message, *, topic, status=None, error="", attempts=1):
        super().__init__(message)
        self.topic = topic
        self.status = status
        self.error = error
        self.attempts = attempts


class HeraldRefused(HeraldError):
    """herald answered 4xx: the request is wrong (bad topic, no or bad token,
    too large, ...). Nothing was published; sending it again will not help."""


class HeraldUnavailable(HeraldError):
    """herald could not be reached, or answered 503 or 429 to every attempt.
    Nothing was published (but see the module's caveat on 503)."""


class HeraldUncertain(HeraldError):
    """The request was sent but no usable answer came (a timeout, a reset
    connection, a 5xx other than 503): the event may have been published.
    Not retried, since a retry could publish it twice."""

    published = None


class Publisher:
    """Publishes events to one herald.

    base_url is herald's address ("http://localhost:8080"); token, when set,
    is sent as "Authorization: Bearer <token>" (herald with auth on needs
    one that allows publishing to the topic). timeout bounds each request,
    in seconds. attempts is how many requests one publish may try in all;
    backoff the first wait between two, doubled each time; max_wait the
    longest single wait, Retry-After included: herald asking for a longer
    one ends the publish with HeraldUnavailable. sleep and on_retry are for
    callers that log or test: on_retry(attempt, reason, delay) is called
    before each wait.
    """

    def __init__(self, base_url, token=None, *, timeout=5.0, attempts=4, backoff=0.2,
                 max_wait=10.0, retry_unavailable=True, sleep=time.sleep, on_retry=None):
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"herald URL must start with http:// or https://, got {base_url!r}")
        if attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {attempts}")
        self.url = base_url.rstrip("/") + "/events"
        self.token = token or None
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self.max_wait = max_wait
        self.retry_unavailable = retry_unavailable
        self._sleep = sleep
        self._on_retry = on_retry

    def publish(self, topic, data, type=None):
        """Publishes data on topic and returns the event's ID.

        data is a str (sent as the event's data as is) or any JSON value
        (sent as compact JSON). type, when set, names the event (the page's
        addEventListener(type, ...)); without it the page's onmessage gets
        it. Raises HeraldRefused, HeraldUnavailable or HeraldUncertain.
        """
        body = {"topic": topic, "data": data}
        if type:
            body["type"] = type
        payload = json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        delay = self.backoff
        for attempt in range(1, self.attempts + 1):
            retry = self._attempt(topic, payload, headers, attempt)
            if isinstance(retry, str):
                return retry  # the event's ID
            reason, wait, final = retry
            if wait is None:
                wait = delay
                delay *= 2
            if attempt == self.attempts or wait > self.max_wait:
                if wait > self.max_wait and attempt < self.attempts:
                    reason += f"; herald asked to retry after {wait:g} s, longer than max_wait ({self.max_wait:g} s)"
                raise final(f"{reason}; gave up after {attempt} attempt{'s' if attempt > 1 else ''}: "
                            "the event was not published")
            if self._on_retry:
                self._on_retry(attempt, reason, wait)
            self._sleep(wait)
        raise AssertionError("unreachable")

    def _attempt(self, topic, payload, headers, attempt):
        """Sends one request. Returns the event's ID, or (reason, wait,
        make_error) when the request may be retried; raises otherwise."""
        req = urllib.request.Request(self.url, data=payload, headers=headers, method="POST")
        where = f"publish to {topic!r} at {self.url}"
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            return self._answer(e, topic, where, attempt)
        except urllib.error.URLError as e:
            # urllib raises URLError only while connecting or sending: the
            # request never reached herald whole, so nothing was stored.
            reason = e.reason
            if isinstance(reason, ConnectionRefusedError):
                msg = f"{where}: herald is down (connection refused)"
                return msg, None, lambda m: HeraldUnavailable(
                    m, topic=topic, error="connection refused", attempts=attempt)
            raise HeraldUnavailable(f"{where}: cannot reach herald ({reason}); the event was not published",
                                    topic=topic, error=str(reason), attempts=attempt) from e
        except (OSError, http.client.HTTPException) as e:
            # Raised while waiting for or reading the answer: the request
            # was sent, herald may have stored the event.
            what = f"no answer within {self.timeout:g} s" if isinstance(e, TimeoutError) else f"the answer failed ({e!r})"
            raise HeraldUncertain(
                f"{where}: {what} after the request was sent; the event may or may not have been "
                "published. Not retried: herald has no idempotency key, so a retry could publish it twice",
                topic=topic, error=str(e) or type(e).__name__, attempts=attempt) from e
        try:
            event_id = json.loads(raw)["id"]
        except (ValueError, KeyError, TypeError) as e:
            raise HeraldUncertain(f"{where}: herald answered success without an event ID: {raw[:200]!r}",
                                  topic=topic, status=201, attempts=attempt) from e
        return event_id

    def _answer(self, e, topic, where, attempt):
        """Handles an error status: a retry for 429 and 503, else raises."""
        status = e.code
        try:
            raw = e.read()
        except OSError:
            raw = b""
        finally:
            e.close()
        error = _error_text(raw)
        msg = f"{where}: herald answered {status} {e.reason}: {error}"
        if status == 429 or (status == 503 and self.retry_unavailable):
            wait = parse_retry_after(e.headers.get("Retry-After"))
            return msg, wait, lambda m: HeraldUnavailable(m, topic=topic, status=status, error=error, attempts=attempt)
        if 400 <= status < 500:
            raise HeraldRefused(msg + "; the event was not published", topic=topic, status=status,
                                error=error, attempts=attempt)
        if status == 503:
            raise HeraldUnavailable(msg + "; the event was not published (retry_unavailable is off)",
                                    topic=topic, status=status, error=error, attempts=attempt)
        raise HeraldUncertain(msg + "; the event may or may not have been published. Not retried: herald has "
                              "no idempotency key, so a retry could publish it twice",
                              topic=topic, status=status, error=error, attempts=attempt)


def _error_text(raw):
    """herald's {"error": "..."} message, or the start of a body that is not one."""
    try:
        doc = json.loads(raw)
        if isinstance(doc, dict) and isinstance(doc.get("error"), str):
            return doc["error"]
    except ValueError:
        pass
    text = raw[:200].decode("utf-8", "replace").strip()
    return repr(text) if text else "(empty body)"


def parse_retry_after(value, now=None):
    """Seconds to wait from a Retry-After header: a number of seconds or an
    HTTP date. None when the header is absent or not understood (the caller
    then backs off on its own); never negative."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(int(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)
