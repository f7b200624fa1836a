"""Real processes for the example's tests: herald serve, the Flask app, redis-server.

Nothing here is a stand-in: herald is built from this repository (or taken from
HERALD_BIN), the app runs under /usr/bin/python3 with Debian's python3-flask, and
Redis is a private redis-server on a free port. A test that needs one that is
missing is skipped, with the reason, except under CI=true, where it fails.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PYTHON = "/usr/bin/python3"  # Debian's python3-flask installs for this Python only
DEADLINE = 15.0  # seconds any one wait may take before the test fails

_herald_bin = None
_tmp = tempfile.TemporaryDirectory(prefix="herald-flask-test-")


def unavailable(what, why):
    """Skips the test because what is missing, or fails it when CI=true."""
    msg = f"{what} unavailable: {why} (fails when CI=true)"
    if os.environ.get("CI") == "true":
        raise AssertionError(msg)
    raise unittest.SkipTest(msg)


def herald_binary():
    """The herald binary: HERALD_BIN, or built once from this repository."""
    global _herald_bin
    if _herald_bin:
        return _herald_bin
    if os.environ.get("HERALD_BIN"):
        _herald_bin = os.environ["HERALD_BIN"]
        return _herald_bin
    if not shutil.which("go"):
        unavailable("go", "needed to build herald; or set HERALD_BIN")
    out = os.path.join(_tmp.name, "herald")
    subprocess.run(["go", "build", "-o", out, "./cmd/herald"], cwd=ROOT, check=True)
    _herald_bin = out
    return out


def need_flask():
    probe = subprocess.run([PYTHON, "-c", "import flask"], capture_output=True, text=True)
    if probe.returncode != 0:
        unavailable("python3-flask", f"{PYTHON} cannot import flask (apt-get install -y python3-flask)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(**extra):
    """The environment without HERALD_* variables, so none leaks into a process under test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    env.update(extra)
    return env


class Process:
    """A child process whose output goes to a log file, shown when a test fails."""

    def __init__(self, name, argv, env=None):
        self.name, self.argv, self.env = name, argv, env or clean_env()
        self.log_path = os.path.join(_tmp.name, f"{name}-{free_port()}.log")
        self.proc = None

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv, stdout=self.log, stderr=subprocess.STDOUT, env=self.env, cwd=ROOT)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.resume()
            self.proc.terminate()
            try:
                self.proc.wait(timeout=DEADLINE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()
        self.proc = None

    def pause(self):
        """Stops the process (SIGSTOP): its sockets still accept, nothing answers."""
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_until(self, ready, what):
        deadline = time.monotonic() + DEADLINE
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode} before {what}:\n{self.output()}")
            if ready():
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: no {what} within {DEADLINE} s:\n{self.output()}")
            time.sleep(0.02)  # nothing to await: a process gives no sign when it listens


def answers(url):
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


class Herald(Process):
    """herald serve on 127.0.0.1, on a free port unless given one."""

    def __init__(self, *flags, port=None, env=None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [herald_binary(), "serve", "--addr", f"127.0.0.1:{self.port}", "--log-level", "warn", *flags]
        super().__init__("herald", argv, env)

    def start(self):
        super().start()
        self.wait_until(lambda: answers(self.url + "/healthz"), "answer on /healthz")
        return self


class FlaskApp(Process):
    """examples/flask/app.py under /usr/bin/python3."""

    def __init__(self, herald_url, *flags, port=None, env=None):
        need_flask()
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.origin = self.url
        argv = [PYTHON, os.path.join(HERE, "app.py"), "--port", str(self.port), "--herald", herald_url, *flags]
        super().__init__("flask", argv, env)

    def start(self):
        super().start()
        self.wait_until(lambda: answers(self.url + "/"), "answer on /")
        return self


class Redis(Process):
    """A private redis-server keeping nothing on disk, restartable on its port."""

    def __init__(self):
        if not shutil.which("redis-server"):
            unavailable("redis-server", "not on PATH (apt-get install -y redis-server)")
        self.port = free_port()
        self.dir = tempfile.mkdtemp(dir=_tmp.name)
        argv = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
                "--dir", self.dir]
        super().__init__("redis", argv)

    def start(self):
        super().start()
        self.wait_until(self.ping, "PONG")
        return self

    def ping(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self):
        super().stop()
        deadline = time.monotonic() + DEADLINE
        while self.ping():  # the port must be free before anything counts on it being down
            if time.monotonic() > deadline:
                raise AssertionError("redis-server still answers after it was stopped")
            time.sleep(0.02)


def post_json(url, body, headers=None, timeout=5):
    """POSTs JSON (or raw bytes) and returns (status, decoded JSON answer)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST",
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        with e:
            return e.code, json.loads(e.read())


class Stream:
    """An SSE stream read the way EventSource reads it, enough for the tests:
    id, event and data fields, events ending at a blank line, comments skipped."""

    def __init__(self, url, last_event_id=None, headers=None, timeout=DEADLINE):
        hdrs = dict(headers or {})
        if last_event_id:
            hdrs["Last-Event-ID"] = last_event_id
        self.resp = urllib.request.urlopen(urllib.request.Request(url, headers=hdrs), timeout=timeout)
        self.headers = self.resp.headers

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.resp.close()

    def __iter__(self):
        event = {"id": "", "event": "message", "data": []}
        for raw in self.resp:
            line = raw.decode("utf-8").rstrip("\r\n")
            if not line:
                # herald's own events (herald:replayed ends a replay) are not the app's.
                if event["data"] and not event["event"].startswith("herald:"):
                    yield {"id": event["id"], "event": event["event"], "data": "\n".join(event["data"])}
                event = {"id": event["id"], "event": "message", "data": []}
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "data":
                event["data"].append(value)
            elif field in ("id", "event"):
                event[field] = value

    def take(self, n=None, until=None):
        """Returns events until n were read or until(event) is true."""
        got = []
        for ev in self:
            got.append(ev)
            if (n is not None and len(got) == n) or (until and until(ev)):
                return got
        raise AssertionError(f"stream ended after {len(got)} events: {got}")


def events_url(herald_url, topic, last_event_id=None, token=None):
    """herald's stream of topic, after last_event_id; without one, from the start of the topic's history."""
    resume = {"lastEventId": last_event_id} if last_event_id else {"from": "start"}
    q = urllib.parse.urlencode({"topic": topic, **resume, **({"access_token": token} if token else {})})
    return f"{herald_url}/events?{q}"


def mint_token(secret, publish="", subscribe="", ttl="1h"):
    out = subprocess.run([herald_binary(), "token", "--publish", publish, "--subscribe", subscribe, "--ttl", ttl],
                         env=clean_env(HERALD_AUTH_SECRET=secret), capture_output=True, text=True, check=True)
    return out.stdout.strip()

