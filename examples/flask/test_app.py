"""The Flask app with a real herald: tasks and chat reach herald's streams.

Run from the repository root: /usr/bin/python3 -m unittest discover -s examples/flask -v
"""

import json
import re
import unittest
import urllib.error
import urllib.request

from testsupport import FlaskApp, Herald, Stream, events_url, free_port, mint_token, post_json

STEP = "0.05"  # seconds per step: a task runs for half a second
STATES = [("running", p) for p in range(0, 100, 10)] + [("completed", 100)]


def states(events):
    return [(d["status"], d["progress"]) for d in (json.loads(e["data"]) for e in events)]


def done(ev):
    return json.loads(ev["data"])["status"] == "completed"


class TaskTest(unittest.TestCase):
    """POST /start-task on Flask; the progress from herald."""

    @classmethod
    def setUpClass(cls):
        port = free_port()
        cls.herald = Herald("--cors-origins", f"http://127.0.0.1:{port}").start()
        cls.addClassCleanup(cls.herald.stop)
        cls.flask = FlaskApp(cls.herald.url, "--step-seconds", STEP, port=port).start()
        cls.addClassCleanup(cls.flask.stop)

    def start_task(self):
        status, body = post_json(self.flask.url + "/start-task", {})
        self.assertEqual(status, 200, body)
        self.assertRegex(body["task_id"], r"^[0-9a-f]{32}$")
        return body["task_id"]

    def test_progress_reaches_herald_in_order(self):
        task = self.start_task()
        with Stream(events_url(self.herald.url, f"flask/tasks/{task}")) as s:
            self.assertEqual(s.headers["Content-Type"], "text/event-stream")
            got = s.take(until=done)
        self.assertEqual(states(got), STATES)
        self.assertTrue(all(re.fullmatch(r"\d+-\d+", e["id"]) for e in got), got)

    def test_late_subscriber_gets_the_state_so_far(self):
        task = self.start_task()
        with Stream(events_url(self.herald.url, f"flask/tasks/{task}")) as s:
            s.take(until=done)
        # Subscribing after the task finished: from=start replays the topic from its start.
        with Stream(events_url(self.herald.url, f"flask/tasks/{task}")) as s:
            self.assertEqual(states(s.take(n=len(STATES))), STATES)

    def test_reconnect_with_last_event_id_loses_and_repeats_nothing(self):
        task = self.start_task()
        url = events_url(self.herald.url, f"flask/tasks/{task}")
        with Stream(url) as s:
            first = s.take(n=3)
        with Stream(url) as s:  # meanwhile the task runs on to the end
            s.take(until=done)
        # As a browser reconnects: the URL unchanged, Last-Event-ID set, which wins over ?lastEventId=.
        with Stream(url, last_event_id=first[-1]["id"]) as s:
            rest = s.take(until=done)
        self.assertEqual(states(first + rest), STATES)

    def test_tasks_do_not_share_topics(self):
        a, b = self.start_task(), self.start_task()
        self.assertNotEqual(a, b)
        for task in (a, b):
            with Stream(events_url(self.herald.url, f"flask/tasks/{task}")) as s:
                self.assertEqual(states(s.take(until=done)), STATES)

    def test_page_carries_herald_config(self):
        with urllib.request.urlopen(self.flask.url + "/", timeout=5) as resp:
            page = resp.read().decode()
        config = json.loads(re.search(r'<script id="herald-config" type="application/json">(.*?)</script>', page).group(1))
        self.assertEqual(config, {"herald": self.herald.url, "token": "", "task": None})
        task = "0" * 32
        with urllib.request.urlopen(f"{self.flask.url}/tasks/{task}", timeout=5) as resp:
            self.assertIn(f'"task": "{task}"', resp.read().decode())

    def test_bad_task_link_is_404_json(self):
        for bad in ("nope", "0" * 31, "0" * 33, "G" * 32):
            with self.subTest(task_id=bad), self.assertRaises(urllib.error.HTTPError) as ctx:
                urllib.request.urlopen(f"{self.flask.url}/tasks/{bad}", timeout=5)
            with ctx.exception as e:
                self.assertEqual(e.code, 404)
                self.assertIn("32 hex digits", json.loads(e.read())["error"])

    def test_herald_lets_the_page_origin_in(self):
        req = urllib.request.Request(events_url(self.herald.url, "flask/tasks/x"), headers={"Origin": self.flask.origin})
        with urllib.request.urlopen(req, timeout=5) as resp:
            self.assertEqual(resp.headers["Access-Control-Allow-Origin"], self.flask.origin)

    def test_chat_message_reaches_the_room(self):
        status, body = post_json(self.flask.url + "/chat/lobby", {"user": " ada ", "text": "hello, herald"})
        self.assertEqual(status, 201, body)
        msg = body["message"]
        self.assertEqual((msg["user"], msg["text"]), ("ada", "hello, herald"))
        with Stream(events_url(self.herald.url, "flask/chat/lobby")) as s:
            got = s.take(until=lambda ev: ev["id"] == body["id"])
        self.assertEqual(json.loads(got[-1]["data"]), msg)

    def test_chat_bad_input_is_400_with_reason(self):
        cases = [
            ("uppercase room", "Lobby", {"user": "a", "text": "t"}, "bad room"),
            ("room starting with a dash", "-x", {"user": "a", "text": "t"}, "bad room"),
            ("room of 33 characters", "a" * 33, {"user": "a", "text": "t"}, "bad room"),
            ("room with a dot", "a.b", {"user": "a", "text": "t"}, "bad room"),
            ("body not JSON", "lobby", b"user=a&text=t", "send JSON"),
            ("JSON list", "lobby", ["a", "t"], "send JSON"),
            ("missing user", "lobby", {"text": "t"}, "missing user"),
            ("user a number", "lobby", {"user": 5, "text": "t"}, "missing user"),
            ("blank text", "lobby", {"user": "a", "text": "   "}, "missing text"),
            ("text of 501 characters", "lobby", {"user": "a", "text": "x" * 501}, "text longer than 500"),
            ("user of 33 characters", "lobby", {"user": "u" * 33, "text": "t"}, "user longer than 32"),
        ]
        for name, room, body, want in cases:
            with self.subTest(name):
                status, answer = post_json(f"{self.flask.url}/chat/{room}", body)
                self.assertEqual(status, 400, answer)
                self.assertIn(want, answer["error"])


class AuthTest(unittest.TestCase):
    """herald with auth on: Flask publishes with its token, the page subscribes with its own."""

    SECRET = "flask-example-test-secret-0123456789abcdef"

    @classmethod
    def setUpClass(cls):
        cls.herald = Herald()
        cls.herald.env["HERALD_AUTH_SECRET"] = cls.SECRET
        cls.herald.start()
        cls.addClassCleanup(cls.herald.stop)
        cls.publish_token = mint_token(cls.SECRET, publish="flask/**")
        cls.subscribe_token = mint_token(cls.SECRET, subscribe="flask/**")

    def flask(self, *flags):
        app = FlaskApp(self.herald.url, "--step-seconds", STEP, *flags).start()
        self.addCleanup(app.stop)
        return app

    def test_task_with_tokens(self):
        app = self.flask("--token", self.publish_token, "--subscribe-token", self.subscribe_token)
        with urllib.request.urlopen(app.url + "/", timeout=5) as resp:
            self.assertIn(json.dumps(self.subscribe_token), resp.read().decode())
        status, body = post_json(app.url + "/start-task", {})
        self.assertEqual(status, 200, body)
        topic = f"flask/tasks/{body['task_id']}"
        with Stream(events_url(self.herald.url, topic, token=self.subscribe_token)) as s:
            self.assertEqual(states(s.take(until=done)), STATES)
        with self.assertRaises(urllib.error.HTTPError) as ctx:
            Stream(events_url(self.herald.url, topic))
        self.assertEqual(ctx.exception.code, 401)
        ctx.exception.close()

    def test_token_from_environment(self):
        app = FlaskApp(self.herald.url, "--step-seconds", STEP)
        app.env["HERALD_TOKEN"] = self.publish_token
        app.start()
        self.addCleanup(app.stop)
        status, body = post_json(app.url + "/chat/lobby", {"user": "a", "text": "from env"})
        self.assertEqual(status, 201, body)

    def test_herald_refusal_reaches_the_caller(self):
        cases = [
            ("no token", [], 401, "publishing needs a token"),
            ("a subscribe-only token", ["--token", self.subscribe_token], 403, "flask/chat/lobby"),
        ]
        for name, flags, status, want in cases:
            with self.subTest(name):
                app = self.flask(*flags)
                for path, body in (("/start-task", {}), ("/chat/lobby", {"user": "a", "text": "t"})):
                    got, answer = post_json(app.url + path, body)
                    self.assertEqual(got, 502, answer)
                    self.assertIn(f"herald answered {status}", answer["error"])
                    self.assertIn("was not published", answer["error"])
                self.assertIn(want, answer["error"])


if __name__ == "__main__":
    unittest.main()
