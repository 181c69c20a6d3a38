#!/usr/bin/env bash
# Regenerate the two locks from pyproject.toml with uv (`pip install uv`):
#
#   runtime.lock  [project].dependencies and what they need: the image installs
#                 only this (deploy/Dockerfile).
#   dev.lock      `-r runtime.lock` plus the dev and embedded extras (tests,
#                 linters, the embedded PostgreSQL/Redis of scripts/run):
#                 scripts/bootstrap.sh installs it.
#
# Pins already in the files are kept (uv prefers the versions in the output
# file); move them with `requirements/compile.sh --upgrade` or
# `--upgrade-package NAME`. tests/test_requirements_locks.py checks the result.
set -euo pipefail
cd "$(dirname "$0")/.."
uv="${UV:-uv}"
common=(--python-version 3.11 --custom-compile-command "requirements/compile.sh" --quiet "$@")

"$uv" pip compile pyproject.toml "${common[@]}" -o requirements/runtime.lock

# dev.lock lists only what runtime.lock does not, pinned consistently with it.
mapfile -t runtime < <(sed -n 's/^\([A-Za-z0-9._-]*\)==.*/\1/p' requirements/runtime.lock)
"$uv" pip compile pyproject.toml --extra dev --extra embedded "${common[@]}" \
    -c requirements/runtime.lock "${runtime[@]/#/--no-emit-package=}" -o requirements/dev.lock
awk 'BEGIN { done = 0 }
     !done && !/^#/ { print "-r runtime.lock"; done = 1 }
     $0 != "-r runtime.lock" { print }' requirements/dev.lock > requirements/dev.lock.tmp
mv requirements/dev.lock.tmp requirements/dev.lock
