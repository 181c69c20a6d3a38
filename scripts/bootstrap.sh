#!/usr/bin/env bash
# Creates .venv with Python 3.11 and installs the locked dependencies:
# requirements/dev.lock (which includes requirements/runtime.lock: the image
# installs only that one). Re-installs only when a lock changed (stamp in .venv
# over every lock file).
set -euo pipefail
cd "$(dirname "$0")/.."

find_python() {
  for candidate in "${PYTHON:-}" python3.11 python3 python; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "NovaTime needs Python 3.11 (set PYTHON=/path/to/python3.11)" >&2
  return 1
}

if [ ! -x .venv/bin/python ]; then
  py=$(find_python)
  echo "==> creating .venv with $($py --version)"
  "$py" -m venv .venv
fi

stamp=.venv/.requirements.sha256
# Every lock pip reads: dev.lock, the runtime.lock it includes, and the
# top-level requirements.lock kept for `pip install -r requirements.lock`.
want=$(cat requirements/runtime.lock requirements/dev.lock requirements.lock | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "==> installing dependencies (requirements/dev.lock)"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -r requirements/dev.lock
  echo "$want" > "$stamp"
fi
