"""gunicorn settings for the web process (ASGI through uvicorn workers).

Environment: WEB_CONCURRENCY (workers, default 2 x CPU + 1 capped at 8), PORT,
GUNICORN_TIMEOUT. With several workers, Prometheus metrics are aggregated
through PROMETHEUS_MULTIPROC_DIR (see deploy/README.md, "Metrics").
"""

import multiprocessing
import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
try:  # the maintained home of the worker; uvicorn.workers is its deprecated copy
    import uvicorn_worker  # noqa: F401

    worker_class = "uvicorn_worker.UvicornWorker"
except ImportError:  # pragma: no cover - depends on the installed set
    worker_class = "uvicorn.workers.UvicornWorker"
workers = int(os.environ.get("WEB_CONCURRENCY", min(8, multiprocessing.cpu_count() * 2 + 1)))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then: bounds the damage of a slow leak.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "10000"))
max_requests_jitter = 1000
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "*")
accesslog = None  # requests are logged by the app, as JSON with the request id
errorlog = "-"


def child_exit(server, worker):
    """Drop a dead worker's live gauges from the multiprocess metrics."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
