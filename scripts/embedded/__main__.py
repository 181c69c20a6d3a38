"""``python -m scripts.embedded check``: resolve the services, print export
lines, stop what was started (diagnostic only)."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path

from scripts.embedded import MODES, ensure_services
from scripts.embedded import __doc__ as package_doc
from scripts.embedded.shared import log


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.embedded", description=package_doc.split("\n\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser(
        "check", help="resolve services, print export lines, stop what was started"
    )
    check.add_argument("--mode", choices=MODES, default="test")
    check.add_argument("--var", type=Path, default=Path("var"), help="var dir (default: ./var)")
    check.add_argument("--db-name", default="novatime")
    check.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    notes_log = logging.getLogger("novatime.services.notes")
    notes_log.setLevel(logging.INFO)
    notes_log.propagate = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("# %(message)s"))
    notes_log.addHandler(handler)

    try:
        services = ensure_services(mode=args.mode, var_dir=args.var, db_name=args.db_name)
    except (RuntimeError, OSError) as exc:
        log.error("%s", exc)
        return 1
    try:
        for note in services.notes:
            notes_log.info("%s", note)
        print(f"export DATABASE_URL={shlex.quote(services.database_url)}")
        print(f"export REDIS_URL={shlex.quote(services.redis_url)}")
        sys.stdout.flush()
    finally:
        services.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
