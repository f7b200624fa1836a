"""The Flask SSE tutorial's task monitor, and a chat, with herald doing the streaming.

Flask keeps the routes and the work: POST /start-task starts a background task
and answers {"task_id"}, as in the tutorial. But instead of a /task-progress
generator that holds a worker thread per browser, the task publishes each
state to herald (topic flask/tasks/<task_id>), and the page subscribes to
herald directly with EventSource. herald holds the streams, replays what a
browser missed when it reconnects, and scales out on Redis.

    /usr/bin/python3 examples/flask/app.py --port 5000 --herald http://localhost:8080

herald must let this page's origin in: herald serve --cors-origins http://localhost:5000
With auth on, pass --token (or HERALD_TOKEN), a token that may publish to
flask/**, and --subscribe-token (or HERALD_SUBSCRIBE_TOKEN), one that may only
subscribe to flask/**, which the page gets (or run herald with
--anonymous-subscribe 'flask/**'). docs/flask.md explains each step.
"""

import argparse
import os
import re
import sys
import threading
import time
import uuid

from flask import Flask, render_template, request

from publisher import HeraldError, HeraldUnavailable, Publisher

TASK_STEPS = 10
ROOM = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
TASK_ID = re.compile(r"[0-9a-f]{32}")
MAX_USER, MAX_TEXT = 32, 500


def task_topic(task_id):
    return f"flask/tasks/{task_id}"


def chat_topic(room):
    return f"flask/chat/{room}"


def create_app(herald_url, token=None, subscribe_token=None, step_seconds=1.0, publish_url=None):
    """Returns the Flask app. herald_url is where browsers reach herald;
    publish_url where this app does (default herald_url); token authorises
    publishing, subscribe_token is handed to the page for its EventSource."""
    if not herald_url.startswith(("http://", "https://")):
        raise ValueError(f"herald URL must start with http:// or https://, got {herald_url!r}")
    app = Flask(__name__)
    herald = Publisher(publish_url or herald_url, token)
    page = {"herald": herald_url.rstrip("/"), "token": subscribe_token or ""}

    def herald_failed(e):
        # The browser's request was fine; herald, upstream, was not.
        status = 503 if isinstance(e, HeraldUnavailable) else 502
        app.logger.error("%s", e)
        return {"error": str(e)}, status

    @app.get("/")
    def index():
        return render_template("index.html", config=dict(page, task=None))

    @app.get("/tasks/<task_id>")
    def task_page(task_id):
        # A link to one task: a page opened late still shows its state,
        # replayed by herald from the start of the topic's history.
        if not TASK_ID.fullmatch(task_id):
            return {"error": f"no task {task_id!r}: a task ID is 32 hex digits"}, 404
        return render_template("index.html", config=dict(page, task=task_id))

    @app.post("/start-task")
    def start_task():
        task_id = uuid.uuid4().hex
        # The first state is published before answering, so a herald that
        # refuses or is down is the caller's error now, not a silent task.
        try:
            herald.publish(task_topic(task_id), {"status": "running", "progress": 0})
        except HeraldError as e:
            return herald_failed(e)
        threading.Thread(target=process_task, args=(task_id,), daemon=True).start()
        return {"task_id": task_id}

    def process_task(task_id):
        for i in range(1, TASK_STEPS + 1):
            time.sleep(step_seconds)  # simulate work
            state = {"status": "completed" if i == TASK_STEPS else "running", "progress": i * 100 // TASK_STEPS}
            try:
                herald.publish(task_topic(task_id), state)
            except HeraldError as e:
                # Each state is the whole state: the next one that gets
                # through brings the page up to date.
                app.logger.error("task %s: %s", task_id, e)

    @app.post("/chat/<room>")
    def chat(room):
        if not ROOM.fullmatch(room):
            return {"error": f"bad room {room[:40]!r}: 1 to 32 of a-z, 0-9, '_' and '-', starting with a letter or digit"}, 400
        msg = request.get_json(silent=True)
        if not isinstance(msg, dict):
            return {"error": 'send JSON: {"user": "...", "text": "..."}'}, 400
        user, text = msg.get("user"), msg.get("text")
        for name, value, limit in (("user", user, MAX_USER), ("text", text, MAX_TEXT)):
            if not isinstance(value, str) or not value.strip():
                return {"error": f"missing {name}: a non-empty string"}, 400
            if len(value) > limit:
                return {"error": f"{name} longer than {limit} characters"}, 400
        # The message's own ID lets a page drop a repeat (see publisher.py).
        data = {"id": uuid.uuid4().hex, "user": user.strip(), "text": text.strip(), "time": time.time()}
        try:
            event_id = herald.publish(chat_topic(room), data)
        except HeraldError as e:
            return herald_failed(e)
        return {"id": event_id, "message": data}, 201

    return app


def main(argv=None):
    p = argparse.ArgumentParser(description="The Flask SSE tutorial's apps, with herald doing the streaming.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=5000, help="port to listen on (default 5000)")
    p.add_argument("--herald", default=os.environ.get("HERALD_URL", "http://localhost:8080"),
                   help="herald's URL, as browsers reach it (default http://localhost:8080; env HERALD_URL)")
    p.add_argument("--publish-url", default=os.environ.get("HERALD_PUBLISH_URL"),
                   help="herald's URL as this app reaches it, when not as browsers do (default --herald; env HERALD_PUBLISH_URL)")
    p.add_argument("--token", default=os.environ.get("HERALD_TOKEN"),
                   help="token that may publish to flask/** when herald has auth on (env HERALD_TOKEN)")
    p.add_argument("--subscribe-token", default=os.environ.get("HERALD_SUBSCRIBE_TOKEN"),
                   help="token the page subscribes with, allowed flask/** only (env HERALD_SUBSCRIBE_TOKEN)")
    p.add_argument("--step-seconds", type=float, default=1.0,
                   help="duration of each of a task's ten steps (default 1)")
    args = p.parse_args(argv)
    if args.step_seconds < 0:
        p.error("--step-seconds must not be negative")
    try:
        app = create_app(args.herald, args.token, args.subscribe_token, args.step_seconds, args.publish_url)
    except ValueError as e:
        p.error(str(e))
    print(f"serving on http://{args.host}:{args.port}, publishing to {args.herald}", file=sys.stderr, flush=True)
    app.run(host=args.host, port=args.port, threaded=True)


if __name__ == "__main__":
    main()
