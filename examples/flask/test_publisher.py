"""publisher.py against a real herald: refusals, herald down, and which failures are retried.

Run from the repository root: /usr/bin/python3 -m unittest discover -s examples/flask -v
"""

import email.utils
import http.server
import threading
import unittest
import urllib.request
import uuid

from publisher import HeraldRefused, HeraldUnavailable, HeraldUncertain, Publisher, parse_retry_after
from testsupport import Herald, Redis, Stream, events_url, free_port, mint_token


def count(herald_url, topic, data, publisher):
    """How many events on topic carry data: published a marker after them, reads the topic's
    history up to it."""
    marker = publisher.publish(topic, "marker " + uuid.uuid4().hex)
    with Stream(events_url(herald_url, topic)) as s:
        events = s.take(until=lambda ev: ev["id"] == marker)
    return sum(1 for ev in events if ev["data"] == data)


class Recorder:
    """Records the publisher's waits and retries instead of sleeping through them."""

    def __init__(self, on_retry=None):
        self.sleeps, self.retries, self._then = [], [], on_retry

    def sleep(self, seconds):
        self.sleeps.append(seconds)

    def on_retry(self, attempt, reason, delay):
        self.retries.append((attempt, reason, delay))
        if self._then:
            self._then(attempt, reason)

    def publisher(self, url, **kw):
        return Publisher(url, sleep=self.sleep, on_retry=self.on_retry, **kw)


class RefusalTest(unittest.TestCase):
    """herald refuses: the error names herald's reason, and nothing is retried."""

    SECRET = "publisher-test-secret-0123456789abcdefgh"

    @classmethod
    def setUpClass(cls):
        cls.herald = Herald("--max-data", "1024")
        cls.herald.env["HERALD_AUTH_SECRET"] = cls.SECRET
        cls.herald.start()
        cls.addClassCleanup(cls.herald.stop)
        cls.token = mint_token(cls.SECRET, publish="flask/**", subscribe="flask/**")

    def test_publish_returns_herald_id(self):
        p = Publisher(self.herald.url, self.token)
        event_id = p.publish("flask/test/ok", {"n": 1}, type="note")
        self.assertRegex(event_id, r"^\d+-\d+$")
        with Stream(events_url(self.herald.url, "flask/test/ok", token=self.token)) as s:
            got = s.take(until=lambda ev: ev["id"] == event_id)[-1]
        self.assertEqual((got["event"], got["data"]), ("note", '{"n":1}'))

    def test_refusals_are_clear_and_not_retried(self):
        other = mint_token(self.SECRET, publish="other/**")
        cases = [
            ("an empty topic segment", self.token, "flask//x", "d", None, 400, 'empty segment'),
            ("a wildcard in the topic", self.token, "flask/*", "d", None, 400, "'*' is a wildcard"),
            ("a reserved event type", self.token, "flask/x", "d", "herald:gap", 400, "reserved"),
            ("data over --max-data", self.token, "flask/x", "x" * 2000, None, 413, "limit 1024"),
            ("no token", None, "flask/x", "d", None, 401, "publishing needs a token"),
            ("a token that is not a JWT", "not-a-jwt", "flask/x", "d", None, 401, "token"),
            ("a token for other topics", other, "flask/x", "d", None, 403, "flask/x"),
        ]
        for name, token, topic, data, typ, status, want in cases:
            with self.subTest(name):
                rec = Recorder()
                with self.assertRaises(HeraldRefused) as ctx:
                    rec.publisher(self.herald.url, token=token).publish(topic, data, type=typ)
                e = ctx.exception
                self.assertEqual(e.status, status)
                self.assertIn(want, e.error)  # herald's own JSON error ...
                self.assertIn(e.error, str(e))  # ... shown in the message
                self.assertIn(f"herald answered {status}", str(e))
                self.assertIn("was not published", str(e))
                self.assertIs(e.published, False)
                self.assertEqual((e.attempts, rec.retries, rec.sleeps), (1, [], []))

    def test_bad_arguments(self):
        for name, url, kw in [("no scheme", "localhost:8080", {}), ("ftp", "ftp://x", {}),
                              ("zero attempts", "http://x", {"attempts": 0})]:
            with self.subTest(name), self.assertRaises(ValueError):
                Publisher(url, **kw)


class DownTest(unittest.TestCase):
    """Nothing listens: the connection is refused before the request is sent, so a retry is safe."""

    def test_herald_down_is_clear_after_retries(self):
        url = f"http://127.0.0.1:{free_port()}"
        rec = Recorder()
        with self.assertRaises(HeraldUnavailable) as ctx:
            rec.publisher(url, attempts=3, backoff=0.1).publish("flask/x", "d")
        e = ctx.exception
        self.assertIn("herald is down (connection refused)", str(e))
        self.assertIn("gave up after 3 attempts", str(e))
        self.assertIn("the event was not published", str(e))
        self.assertIs(e.published, False)
        self.assertEqual(e.attempts, 3)
        self.assertEqual(rec.sleeps, [0.1, 0.2])

    def test_herald_coming_up_gets_the_event_once(self):
        port = free_port()
        herald = Herald(port=port)
        self.addCleanup(herald.stop)
        rec = Recorder(on_retry=lambda attempt, reason: herald.start() if attempt == 1 else None)
        p = rec.publisher(herald.url)
        event_id = p.publish("flask/x", "refused then stored")
        self.assertRegex(event_id, r"^\d+-\d+$")
        self.assertEqual([(a, d) for a, _, d in rec.retries], [(1, 0.2)])
        self.assertIn("connection refused", rec.retries[0][1])
        self.assertEqual(count(herald.url, "flask/x", "refused then stored", p), 1)


class UnavailableTest(unittest.TestCase):
    """herald answers 503 while its Redis is down: retried until Redis is back."""

    def setUp(self):
        self.redis = Redis().start()
        self.addCleanup(self.redis.stop)
        self.herald = Herald("--store", f"redis://127.0.0.1:{self.redis.port}/0").start()
        self.addCleanup(self.herald.stop)

    def test_503_is_retried(self):
        self.redis.stop()
        rec = Recorder(on_retry=lambda attempt, reason: self.redis.start() if attempt == 1 else None)
        p = rec.publisher(self.herald.url)
        event_id = p.publish("flask/x", "stored after a 503")
        self.assertRegex(event_id, r"^\d+-\d+$")
        self.assertEqual(len(rec.retries), 1, rec.retries)
        self.assertIn("herald answered 503", rec.retries[0][1])
        self.assertIn("unavailable", rec.retries[0][1])  # herald's JSON error, in the reason
        self.assertEqual(count(self.herald.url, "flask/x", "stored after a 503", p), 1)

    def test_503_final_when_retry_unavailable_is_off(self):
        self.redis.stop()
        rec = Recorder()
        with self.assertRaises(HeraldUnavailable) as ctx:
            rec.publisher(self.herald.url, retry_unavailable=False).publish("flask/x", "d")
        self.assertEqual((ctx.exception.status, ctx.exception.attempts, rec.sleeps), (503, 1, []))
        self.assertIn("unavailable", ctx.exception.error)


class RateLimiter(http.server.ThreadingHTTPServer):
    """A rate-limiting proxy in front of herald, as nginx's limit_req would be: it answers the
    first `refuse` publishes 429 with Retry-After, without passing them on, and forwards the rest.
    herald itself never answers a publish 429; this is the one part of these tests that is not
    herald, and it forwards to a real one."""

    def __init__(self, upstream, retry_after, refuse=1):
        self.upstream, self.retry_after, self.refuse, self.forwarded = upstream, retry_after, refuse, 0
        super().__init__(("127.0.0.1", 0), _RateLimitHandler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()


class _RateLimitHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        srv = self.server
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if srv.refuse > 0:
            srv.refuse -= 1
            self.answer(429, b'{"error":"rate limited"}', {"Retry-After": srv.retry_after})
            return
        srv.forwarded += 1
        req = urllib.request.Request(srv.upstream + self.path, data=body, method="POST",
                                     headers={"Content-Type": self.headers["Content-Type"]})
        with urllib.request.urlopen(req, timeout=5) as resp:
            self.answer(resp.status, resp.read(), {})

    def answer(self, status, body, headers):
        self.send_response(status)
        for k, v in {"Content-Type": "application/json", "Content-Length": str(len(body)), **headers}.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class RetryAfterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.herald = Herald().start()
        cls.addClassCleanup(cls.herald.stop)

    def limiter(self, retry_after):
        proxy = RateLimiter(self.herald.url, retry_after)
        self.addCleanup(proxy.server_close)
        self.addCleanup(proxy.shutdown)
        return proxy

    def test_429_waits_as_asked_then_publishes_once(self):
        proxy = self.limiter("2")
        rec = Recorder()
        p = rec.publisher(proxy.url)
        p.publish("flask/x", "after a 429")
        self.assertEqual(rec.sleeps, [2.0])
        self.assertIn("herald answered 429", rec.retries[0][1])
        self.assertIn("rate limited", rec.retries[0][1])
        self.assertEqual(count(self.herald.url, "flask/x", "after a 429", Publisher(self.herald.url)), 1)

    def test_retry_after_beyond_max_wait_gives_up_at_once(self):
        proxy = self.limiter("60")
        rec = Recorder()
        with self.assertRaises(HeraldUnavailable) as ctx:
            rec.publisher(proxy.url, max_wait=10).publish("flask/x", "d")
        self.assertIn("asked to retry after 60 s, longer than max_wait (10 s)", str(ctx.exception))
        self.assertEqual((ctx.exception.status, rec.sleeps, proxy.forwarded), (429, [], 0))

    def test_parse_retry_after(self):
        now = 1_800_000_000.0
        cases = [
            ("seconds", "3", 3.0),
            ("zero", "0", 0.0),
            ("padded", " 7 ", 7.0),
            ("an HTTP date 5 s ahead", email.utils.formatdate(now + 5, usegmt=True), 5.0),
            ("an HTTP date past", email.utils.formatdate(now - 5, usegmt=True), 0.0),
            ("absent", None, None),
            ("empty", "", None),
            ("a word", "soon", None),
            ("negative", "-1", None),
            ("fractional", "1.5", None),
            ("a date without a zone", "Wed, 01 Jan 2027 00:00:00", None),
        ]
        for name, value, want in cases:
            with self.subTest(name):
                self.assertEqual(parse_retry_after(value, now=now), want)


class TimeoutTest(unittest.TestCase):
    """herald stopped (SIGSTOP): the request is sent, no answer comes. Not retried: herald may
    store it when it wakes, and a retry would then publish it twice."""

    def test_timeout_after_sending_is_not_retried(self):
        herald = Herald().start()
        self.addCleanup(herald.stop)
        herald.pause()
        rec = Recorder()
        try:
            with self.assertRaises(HeraldUncertain) as ctx:
                rec.publisher(herald.url, timeout=0.5).publish("flask/x", "sent once")
        finally:
            herald.resume()
        e = ctx.exception
        self.assertIn("no answer within 0.5 s after the request was sent", str(e))
        self.assertIn("may or may not have been published", str(e))
        self.assertIn("Not retried", str(e))
        self.assertIsNone(e.published)
        self.assertEqual((e.attempts, rec.retries, rec.sleeps), (1, [], []))
        # Woken, herald may or may not store the request it was sent; never twice.
        self.assertLessEqual(count(herald.url, "flask/x", "sent once", Publisher(herald.url)), 1)


if __name__ == "__main__":
    unittest.main()
