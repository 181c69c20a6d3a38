"""gunicorn settings for the web process (ASGI through uvicorn workers).

Environment: WEB_CONCURRENCY (workers, default 2 x CPU + 1 capped at 8), PORT,
GUNICORN_TIMEOUT, NOVATIME_TRUSTED_PROXIES (the proxies whose forwarding
headers are believed). With several workers, Prometheus metrics are aggregated
through PROMETHEUS_MULTIPROC_DIR (see deploy/README.md, "Metrics").
"""

import importlib.util
import multiprocessing
import os
from pathlib import Path


def _config_module(name):
    """config/<name>.py by its path: importing the ``config`` package would
    set up the Celery app and its signal handlers in gunicorn's master."""
    path = Path(__file__).resolve().parent.parent / "config" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"novatime_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _client_ip_module():
    return _config_module("client_ip")


bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
# uvicorn_worker.UvicornWorker (uvicorn.workers is its deprecated copy) with
# ws_max_size set: WebSocket frames over 64 KiB are closed with 1009 before
# they are buffered (uvicorn's default: 16 MiB). The class itself, loaded by
# path like client_ip (see config/gunicorn_worker.py).
worker_class = _config_module("gunicorn_worker").NovaTimeUvicornWorker
workers = int(os.environ.get("WEB_CONCURRENCY", min(8, multiprocessing.cpu_count() * 2 + 1)))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then: bounds the damage of a slow leak.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "10000"))
max_requests_jitter = 1000
# X-Forwarded-For / -Proto are believed only from NOVATIME_TRUSTED_PROXIES (the
# ingress), the list the application uses too (config/client_ip.py); empty
# trusts nobody. Never "*": any client could then pick its own address.
forwarded_allow_ips = _client_ip_module().server_forwarded_allow_ips()
accesslog = None  # requests are logged by the app, as JSON with the request id
errorlog = "-"


def child_exit(server, worker):
    """Drop a dead worker's live gauges from the multiprocess metrics."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
