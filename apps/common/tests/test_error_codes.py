"""The error-code catalogue is complete: every code the code raises is in it,
and every code in it is documented in a README.

The scan reads the source (AST), so a new ``ApplicationError(..., code="x")``
without a catalogue line fails here, before a client meets an undocumented code.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from apps.common.error_codes import (
    ERROR_CODES,
    README,
    ErrorCode,
    _codes,
    _merge,
    readme_with_table,
)
from apps.common.openapi import error_responses

ROOT = Path(__file__).resolve().parents[3]
SOURCES = ("apps", "config", "tenants")
#: Calls whose ``code=`` is a WebSocket close code or a form's internal code,
#: not an API error code.
NOT_API = frozenset({"close", "evict_sockets", "_close"})


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def _source_files() -> list[Path]:
    files = []
    for top in SOURCES:
        for path in (ROOT / top).rglob("*.py"):
            parts = path.relative_to(ROOT).parts
            if "tests" in parts or "migrations" in parts or path.name.startswith("test_"):
                continue
            files.append(path)
    return files


def raised_codes() -> dict[str, set[str]]:
    """Literal error codes in the source → the files that use them."""
    found: dict[str, set[str]] = {}

    def add(code: str, path: Path) -> None:
        found.setdefault(code, set()).add(str(path.relative_to(ROOT)))

    for path in _source_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                name = _name(node.func)
                if name in NOT_API:
                    continue
                is_error = (name.endswith("Error") and name != "ValidationError") or name in {
                    "field_error",
                    "_forbidden",
                    "_file_error",
                }
                for keyword in node.keywords:
                    if (
                        is_error
                        and keyword.arg == "code"
                        and isinstance(keyword.value, ast.Constant)
                        and isinstance(keyword.value.value, str)
                    ):
                        add(keyword.value.value, path)
                if name in {"json_error", "_error"} and len(node.args) >= 2:
                    first, second = node.args[0], node.args[1]
                    if (
                        isinstance(first, ast.Constant)
                        and isinstance(first.value, int)
                        and isinstance(second, ast.Constant)
                        and isinstance(second.value, str)
                    ):
                        add(second.value, path)
            elif isinstance(node, ast.ClassDef):
                if not any(_name(base).endswith(("Error", "Denied")) for base in node.bases):
                    continue
                for statement in node.body:
                    if (
                        isinstance(statement, ast.Assign)
                        and isinstance(statement.value, ast.Constant)
                        and isinstance(statement.value.value, str)
                        and any(
                            isinstance(t, ast.Name) and t.id in {"code", "default_code"}
                            for t in statement.targets
                        )
                    ):
                        add(statement.value.value, path)
    return found


def test_the_scan_finds_codes_it_must_find() -> None:
    """The scan is not vacuous: it sees codes raised in the four ways used."""
    found = raised_codes()
    assert "entry_locked" in found  # ConflictError(..., code=...)
    assert "does_not_exist" in found  # field_error(..., code=...)
    assert "role_required" in found  # class attribute
    assert "not_a_member" in found  # DRF default_code
    assert "tenant_not_found" in found  # _error(404, "...")


def test_every_raised_code_is_in_the_catalogue() -> None:
    missing = {code: sorted(paths) for code, paths in raised_codes().items()}
    missing = {code: paths for code, paths in missing.items() if code not in ERROR_CODES}
    assert missing == {}


def test_every_catalogued_code_is_documented_in_a_readme() -> None:
    readmes = [ROOT / "README.md", *ROOT.glob("apps/*/README.md"), *ROOT.glob("tenants/README.md")]
    text = "\n".join(path.read_text(encoding="utf-8") for path in readmes if path.exists())
    undocumented = sorted(code for code in ERROR_CODES if f"`{code}`" not in text)
    assert undocumented == []


def test_a_code_defined_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        _merge(_codes(400, dup="a"), _codes(409, dup="b"))


def test_error_responses_group_codes_by_status_with_an_enum() -> None:
    responses = error_responses("not_found", "role_required", "not_author", "entry_locked")
    assert sorted(responses) == [403, 404, 409]
    schema = responses[403].response
    assert schema["properties"]["code"]["enum"] == ["role_required", "not_author"]
    assert "`not_author`: " + ERROR_CODES["not_author"].meaning in responses[403].description
    assert ERROR_CODES["entry_locked"] == ErrorCode(409, ERROR_CODES["entry_locked"].meaning)


def test_error_responses_refuse_an_unknown_code() -> None:
    with pytest.raises(KeyError):
        error_responses("no_such_code")


def test_the_readme_table_is_the_catalogue() -> None:
    """apps/common/README.md carries the generated table, not a stale copy."""
    text = README.read_text(encoding="utf-8")
    assert readme_with_table(text) == text, "run: python -m apps.common.error_codes --write"
