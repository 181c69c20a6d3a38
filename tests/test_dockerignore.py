"""The image's build context (.dockerignore) leaves local state out.

Without a .dockerignore, ``docker build -f deploy/Dockerfile .`` sent ``.venv``,
``.git`` and ``var/`` (the embedded database files, mail, tenant exports) into
the image through ``COPY . .``.  The context is computed here with pathspec's
gitignore rules; .dockerignore writes every pattern anchored (``/name`` or
``**/name``), and for anchored patterns Docker's matching (moby's
patternmatcher: a pattern matches the path or one of its parents, relative to
the context root, ``**`` spans directories) and gitignore's agree, so the
computed context is the one Docker sends.  The first test keeps that true.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pathspec
import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCKERIGNORE = ROOT / ".dockerignore"


def _patterns() -> list[str]:
    lines = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def build_context(root: Path, patterns: list[str]) -> set[str]:
    """Files (relative, POSIX) Docker would send from ``root``."""
    spec = pathspec.GitIgnoreSpec.from_lines(patterns)
    files: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        dirnames[:] = [d for d in dirnames if not spec.match_file(f"{(rel / d).as_posix()}/")]
        for name in filenames:
            path = (rel / name).as_posix()
            if not spec.match_file(path):
                files.add(path)
    return files


def test_every_pattern_is_anchored_so_docker_and_gitignore_agree():
    loose = [p for p in _patterns() if not re.match(r"!?(/|\*\*/)", p)]
    assert not loose, f"unanchored .dockerignore patterns: {loose}"


def test_the_context_leaves_out_local_state_and_caches(tmp_path):
    tree = {
        ".venv/bin/python": False,
        ".venv/lib/python3.11/site-packages/django/__init__.py": False,
        ".git/HEAD": False,
        ".git/objects/ab/cdef": False,
        "var/pg/PG_VERSION": False,
        "var/redis/dump.rdb": False,
        "var/mail/20260101-000000.log": False,
        "var/exports/acme-2026.zip": False,
        "var/celerybeat-schedule": False,
        ".env": False,
        "deploy/.env": False,
        # every variant of an environment file, at any depth: they hold secrets
        ".env.production": False,
        ".env.local": False,
        ".env.staging.local": False,
        "deploy/.env.production": False,
        "deploy/k8s/.env.secret": False,
        "config/settings/.env": False,
        "prod.env": False,
        "deploy/production.env": False,
        "apps/iam/__pycache__/models.cpython-311.pyc": False,
        "config/__pycache__/urls.cpython-311.pyc": False,
        ".pytest_cache/v/cache/nodeids": False,
        ".ruff_cache/CACHEDIR.TAG": False,
        ".coverage": False,
        ".coverage.host.1234": False,
        "htmlcov/index.html": False,
        "novatime.egg-info/PKG-INFO": False,
        # what the image needs
        "manage.py": True,
        "apps/iam/models.py": True,
        "config/settings/production.py": True,
        "tenants/resolution.py": True,
        "deploy/entrypoint.sh": True,
        "deploy/gunicorn.conf.py": True,
        "deploy/env.example": True,
        "requirements/runtime.lock": True,
        "apps/common/templates/x.html": True,
        # a directory merely named like an excluded one, deeper down, stays
        "apps/var/models.py": True,
    }
    for rel in tree:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    context = build_context(tmp_path, _patterns())
    wrong = {
        rel: ("in" if rel in context else "out")
        for rel, keep in tree.items()
        if (rel in context) != keep
    }
    assert not wrong, wrong


def _dockerfile_copies() -> list[str]:
    """Sources of the Dockerfile's COPY instructions from the build context."""
    sources: list[str] = []
    for line in (ROOT / "deploy" / "Dockerfile").read_text().splitlines():
        if not line.startswith("COPY ") or "--from=" in line:
            continue
        args = [a for a in line.split()[1:] if not a.startswith("--")]
        sources += args[:-1]
    return sources


def test_what_the_dockerfile_copies_is_in_the_context_and_local_state_is_not():
    context = build_context(ROOT, _patterns())
    copies = _dockerfile_copies()
    assert "." in copies  # COPY . . : the application
    for source in copies:
        if source != ".":
            assert source in context, f"COPY {source}: not in the build context"
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    if tracked.returncode:
        pytest.skip("not a git checkout")
    needed = [
        f
        for f in tracked.stdout.splitlines()
        if f.startswith(("apps/", "config/", "tenants/", "deploy/", "requirements/"))
        or f in {"manage.py", "pyproject.toml"}
    ]
    missing = [f for f in needed if (ROOT / f).exists() and f not in context]
    assert not missing, f"tracked files left out of the image: {missing[:10]}"
    leaked = [f for f in context if f.split("/")[0] in {".git", ".venv", "var"}]
    assert not leaked, leaked[:10]
