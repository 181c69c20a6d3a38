"""Signup end to end over real HTTP: ``POST /api/v1/signup/`` → usable tenant.

    .venv/bin/python -m bench.signup [--signups 30]

Starts uvicorn (config.asgi, dev settings, argon2 hashing) on a free port
against a fresh bench database, then for each signup measures (a) the signup
call and (b) signup + the first authenticated request on the new organization
host (``GET /api/v1/organization/`` with the returned token) — "usable". Two
rounds: with a warm pool of spare schemas (the production set-up) and with an
empty pool (template replay). Results: stdout and var/bench/signup.json.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import time
import urllib.request

from bench.common import (
    ROOT,
    Timer,
    prepare_database,
    summary,
    write_result,
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _request(
    method: str, url: str, host: str, body: dict | None = None, token: str | None = None
) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Host", host)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Token {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--signups", type=int, default=30)
    args = parser.parse_args()

    url = prepare_database("bench_signup")

    from tenants.provisioning import fill_pool

    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "config.settings.dev",
        "DJANGO_DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        "THROTTLE_SIGNUP": "100000/min",
        "NOVATIME_TENANT_POOL_SIZE": "0",  # no refill jobs during the run
        "NOVATIME_URL_PORT": str(port),
    }
    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/uvicorn"),
            "config.asgi:application",
            "--port",
            str(port),
            "--lifespan",
            "off",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if _request("GET", f"{base}/healthz", "localhost")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        results = {}
        for label, pool in (("warm_pool", True), ("empty_pool", False)):
            if pool:
                fill_pool(size=args.signups + 1)
            signup_ms, usable_ms = [], []
            for i in range(args.signups + 1):
                slug = f"s-{label[:4]}-{i}"
                body = {
                    "organization_name": f"Bench {i}",
                    "slug": slug,
                    "email": f"{slug}@bench.test",
                    "password": "bench password 123",
                }
                with Timer() as t_signup:
                    status, data = _request("POST", f"{base}/api/v1/signup/", "localhost", body)
                assert status == 201, (status, data)
                with Timer() as t_first:
                    status, org = _request(
                        "GET",
                        f"{base}/api/v1/organization/",
                        f"{slug}.localhost",
                        token=data["token"],
                    )
                assert status == 200 and org["slug"] == slug, (status, org)
                if i == 0:
                    continue  # warm-up (first request loads the app's lazy parts)
                signup_ms.append(t_signup.ms)
                usable_ms.append(t_signup.ms + t_first.ms)
            results[label] = {"signup": summary(signup_ms), "signup_to_usable": summary(usable_ms)}
    finally:
        server.terminate()
        server.wait(timeout=20)
    result = {"signups_per_round": args.signups, "password_hasher": "argon2", **results}
    path = write_result("signup", result)
    print(json.dumps(result, indent=2))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
