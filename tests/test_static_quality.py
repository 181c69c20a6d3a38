"""Static checks that run with the suite: migrations match the models, and
mypy (django-stubs, configured in pyproject.toml) passes on apps/ config/
tenants/. Ruff runs in ``scripts/test`` before pytest."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tenants.testing import manage_env

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.django_db
def test_models_and_migrations_agree():
    """``makemigrations --check``: no model change is missing its migration."""
    result = subprocess.run(
        [sys.executable, "manage.py", "makemigrations", "--check", "--dry-run", "--no-input"],
        cwd=ROOT,
        env=manage_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.django_db
def test_mypy_passes():
    """mypy with the django and DRF plugins, as ``make typecheck`` runs it."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "mypy")],
        cwd=ROOT,
        env=manage_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]


def test_template_comments_are_closed_on_their_line():
    """Django's ``{# #}`` comment is one line only: one spread over lines is
    printed on the page as text. Longer comments use ``{% comment %}``."""
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted(ROOT.glob("**/templates/**/*.html"))
        if ".venv" not in path.parts
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if line.count("{#") > line.count("#}")
    ]
    assert not offenders, offenders


def test_an_inputs_type_comes_from_its_widget_not_its_attrs():
    """``widget.attrs["type"]`` set after the widget is built is written
    beside the widget's own ``type="text"``: the browser keeps the first, so
    an email field was a text field. Set ``widget.input_type`` or choose the
    widget (``forms.EmailInput``)."""
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted((ROOT / "apps").glob("**/*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"attrs\.update\([^)]*\btype=|attrs\[[\"']type[\"']\]\s*=", line)
    ]
    assert not offenders, offenders
