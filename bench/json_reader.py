"""The shared JSON reader's cost over ``json.loads``, on 5 MiB bodies.

    .venv/bin/python -m bench.json_reader [--mib 5] [--repeat 3]

``apps.common.parsers.json_loads`` reads every untrusted JSON body (login
and signup included, which run in a 2-slot lane): whatever it adds to the
parse is work a client can ask for with a body at the size limit. Three
shapes at ``--mib`` MiB, each the worst of its kind for a per-node check:
a flat array of small integers, an array of empty arrays (containers
only), an array of short strings. Best of ``--repeat`` runs each; no
database. Results: a table on stdout and var/bench/json_reader.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.common import write_result


def _bodies(size: int) -> dict[str, bytes]:
    """Each shape repeated until it fills ``size`` bytes (then closed)."""

    def fill(item: str) -> bytes:
        count = max(1, (size - 2) // (len(item) + 1))
        return ("[" + ",".join([item] * count) + "]").encode()

    return {
        "flat int array": fill("7"),
        "array of empty arrays": fill("[]"),
        "string array": fill('"ab"'),
    }


def _best_ms(call: Callable[[], Any], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        best = min(best, (time.perf_counter() - started) * 1000)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
    import django

    django.setup()
    from apps.common.parsers import json_loads

    rows = []
    for shape, body in _bodies(int(args.mib * 1024 * 1024)).items():
        baseline = _best_ms(lambda body=body: json.loads(body.decode()), args.repeat)
        reader = _best_ms(lambda body=body: json_loads(body), args.repeat)
        rows.append(
            {
                "shape": shape,
                "bytes": len(body),
                "json_loads_ms": round(baseline, 1),
                "reader_ms": round(reader, 1),
                "ratio": round(reader / baseline, 2),
            }
        )
    out = sys.stdout
    out.write(f"{'shape':<24}{'bytes':>10}{'json.loads ms':>15}{'reader ms':>11}{'ratio':>8}\n")
    for row in rows:
        out.write(
            f"{row['shape']:<24}{row['bytes']:>10}{row['json_loads_ms']:>15}"
            f"{row['reader_ms']:>11}{row['ratio']:>8}\n"
        )
    path = write_result("json_reader", {"mib": args.mib, "repeat": args.repeat, "rows": rows})
    out.write(f"written to {path}\n")


if __name__ == "__main__":
    main()
