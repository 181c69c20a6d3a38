"""Realistic mixed traffic for NovaTime across several organizations (locust).

Each simulated user is one member of one organization (their own account, so
timers never collide between users): they start and stop timers, list their
entries and tasks, post in the organization's chat channel and read a summary
report, with think time between actions. The organizations, members and ids
come from ``NOVATIME_LOAD_PLAN`` (a JSON file written by bench/load/plan.py),
and every request carries the organization's ``Host`` header, so the target
is one server address (``--host http://127.0.0.1:PORT``).

Any non-2xx answer counts as a failure, except the documented 409 of a stop
with no running timer (a user's first action may be a stop).
"""

from __future__ import annotations

import datetime
import itertools
import json
import os
import threading
from typing import Any

from locust import HttpUser, between, task

_PLAN: list[dict[str, Any]] = json.loads(
    open(os.environ["NOVATIME_LOAD_PLAN"]).read()  # noqa: SIM115 - read once at import
)["members"]
_NEXT = itertools.count()
_LOCK = threading.Lock()


class Member(HttpUser):
    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        with _LOCK:
            self.me = _PLAN[next(_NEXT) % len(_PLAN)]
        self.client.headers.update(
            {"Host": self.me["host"], "Authorization": f"Token {self.me['token']}"}
        )
        self.running = False

    def _ok(self, response: Any, *also_ok: int) -> None:
        if response.status_code < 300 or response.status_code in also_ok:
            response.success()
        else:
            response.failure(f"{response.status_code}: {response.text[:200]}")

    @task(4)
    def timer(self) -> None:
        if self.running:
            with self.client.post(
                "/api/v1/timer/stop/", json={}, name="timer stop", catch_response=True
            ) as r:
                self._ok(r, 409)
        else:
            with self.client.post(
                "/api/v1/timer/start/",
                json={
                    "project": self.me["project"],
                    "task": self.me["task"],
                    "description": "load",
                },
                name="timer start",
                catch_response=True,
            ) as r:
                self._ok(r)
        self.running = not self.running

    @task(4)
    def entries(self) -> None:
        since = (datetime.date.today() - datetime.timedelta(days=30)).isoformat()
        with self.client.get(
            f"/api/v1/time-entries/?from={since}", name="entries list", catch_response=True
        ) as r:
            self._ok(r)

    @task(3)
    def task_list(self) -> None:
        with self.client.get(
            f"/api/v1/tasks/?project={self.me['project']}", name="task list", catch_response=True
        ) as r:
            self._ok(r)

    @task(2)
    def chat(self) -> None:
        with self.client.post(
            f"/api/v1/chat/channels/{self.me['channel']}/messages/",
            json={"body": "load test says hi"},
            name="chat post",
            catch_response=True,
        ) as r:
            self._ok(r)

    @task(1)
    def chat_history(self) -> None:
        with self.client.get(
            f"/api/v1/chat/channels/{self.me['channel']}/messages/",
            name="chat history",
            catch_response=True,
        ) as r:
            self._ok(r)

    @task(1)
    def report(self) -> None:
        today = datetime.date.today()
        params = f"from={(today - datetime.timedelta(days=30)).isoformat()}&to={today.isoformat()}"
        with self.client.get(
            f"/api/v1/reports/summary/?{params}&group_by=project",
            name="summary report",
            catch_response=True,
        ) as r:
            self._ok(r)
