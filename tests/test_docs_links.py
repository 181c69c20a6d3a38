"""Every relative link in the repository's Markdown resolves inside the repository.

The README used to send readers to ``../shared/API.md``, which a clone does not
have. Checked here, in every tracked ``*.md`` (README.md, the apps' READMEs,
deploy/, docs/, ...): Markdown links ``[text](target)`` that are not URLs or
anchors, and the code-quoted references to documents (`` `apps/iam/README.md` ``,
anything starting with ``../``), resolved against the file's folder or the
repository root; the target must exist and lie inside the repository.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
QUOTED = re.compile(r"`([^`\s]+)`")
URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def _markdown_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "*.md"], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    if listed.returncode:
        return sorted(p for p in ROOT.rglob("*.md") if not {".venv", "var"} & set(p.parts))
    return [ROOT / f for f in listed.stdout.splitlines()]


def references(text: str) -> list[str]:
    """Relative link targets and quoted document paths in ``text``."""
    found = []
    for target in LINK.findall(text):
        if URL.match(target) or target.startswith(("#", "/")):
            continue
        found.append(target.split("#", 1)[0])
    for quoted in QUOTED.findall(text):
        if quoted.startswith("../") or re.fullmatch(r"[\w./-]+\.md", quoted):
            found.append(quoted)
    return [f for f in found if f]


def resolves(md: Path, target: str) -> bool:
    for base in (md.parent, ROOT):
        path = (base / target).resolve()
        if path.is_relative_to(ROOT) and path.exists():
            return True
    return False


def test_every_relative_link_resolves_inside_the_repository():
    files = _markdown_files()
    assert ROOT / "README.md" in files and ROOT / "apps" / "iam" / "README.md" in files
    broken = [
        f"{md.relative_to(ROOT)}: {target}"
        for md in files
        for target in references(md.read_text())
        if not resolves(md, target)
    ]
    assert not broken, "links that do not resolve inside the repository:\n" + "\n".join(broken)


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("The contract is `../shared/API.md`.", False),
        ("See [the API](../shared/API.md).", False),
        ("See [deploy](deploy/README.md#kubernetes) and `apps/iam/README.md`.", True),
        ("[docs](https://example.com/x.md), [top](#layout), `var/mail/`", True),
        ("`apps/nope/README.md`", False),
    ],
)
def test_the_check_tells_good_links_from_broken_ones(text, ok):
    md = ROOT / "README.md"
    assert all(resolves(md, t) for t in references(text)) is ok
