"""No-op migration run over many tenants: ``tenants migrate`` vs ``migrate_schemas``.

    .venv/bin/python -m bench.migrate_noop [--tenants 500]

Builds N tenants (template replay), then times each command as an operator
runs it (a fresh ``manage.py`` process, start-up included) when there is
nothing to apply. Results: stdout and var/bench/migrate_noop.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from bench.common import (
    ROOT,
    Timer,
    prepare_database,
    write_result,
)


def _run(args: list[str], env: dict[str, str]) -> float:
    with Timer() as t:
        subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return t.ms


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenants", type=int, default=500)
    args = parser.parse_args()

    url = prepare_database()

    from tenants.provisioning import provision_tenant

    with Timer() as build:
        for i in range(args.tenants):
            provision_tenant(slug=f"m-{i}", name="Bench", method="template")

    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "config.settings.dev",
        "LOG_LEVEL": "WARNING",
    }
    ours = [_run(["tenants", "migrate"], env) for _ in range(3)]
    plain = [_run(["migrate_schemas", "--tenant", "--noinput", "-v", "0"], env)]
    ours_best = min(ours)
    result = {
        "tenants": args.tenants,
        "build_seconds": round(build.ms / 1000, 1),
        "tenants_migrate_ms": [round(x) for x in ours],
        "migrate_schemas_ms": [round(x) for x in plain],
        "speedup": round(plain[0] / ours_best, 1),
    }
    path = write_result("migrate_noop", result)
    print(json.dumps(result, indent=2))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
