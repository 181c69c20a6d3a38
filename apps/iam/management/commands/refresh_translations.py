"""``manage.py refresh_translations``: the catalogs in locale/ from the code,
then compiled (apps/iam/README.md, "Translations").

``makemessages`` over apps/, templates/ and config/ (what :data:`IGNORE`
leaves), one catalog per non-English language of ``settings.LANGUAGES``, then
``compilemessages``. Needs GNU gettext (``xgettext``, ``msgfmt``). The .mo
files are committed, so a machine that only runs NovaTime needs no gettext.
apps/iam/tests/test_locale.py fails while a marked string is missing or
untranslated, or a .mo is older than its .po.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

#: Directories makemessages leaves out (fnmatch patterns, as its ``--ignore``):
#: environments, data, assets, tests and tooling; what remains is apps/,
#: templates/, config/ and tenants/.
IGNORE = [
    ".venv",
    "venv",
    "var",
    "node_modules",
    "static",
    "tests",
    "bench",
    "deploy",
    "docs",
    "scripts",
    "requirements",
]
#: One "#: file" line per use (no line numbers): a refresh does not rewrite
#: every entry when code moves.
ADD_LOCATION = "file"


def catalog_languages() -> list[str]:
    """The languages with a catalog: all but English, the source language."""
    return [code for code, _name in settings.LANGUAGES if code != "en"]


def make_messages(*, verbosity: int = 1) -> None:
    call_command(
        "makemessages",
        locale=catalog_languages(),
        ignore_patterns=IGNORE,
        add_location=ADD_LOCATION,
        no_obsolete=True,
        verbosity=verbosity,
    )


class Command(BaseCommand):
    help = "Refresh locale/<language>/LC_MESSAGES/django.po from the code and compile the .mo."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--no-compile", action="store_true", help="Only refresh the .po files.")

    def handle(self, *args: Any, **options: Any) -> None:
        verbosity = options["verbosity"]
        make_messages(verbosity=verbosity)
        if not options["no_compile"]:
            call_command("compilemessages", locale=catalog_languages(), verbosity=verbosity)
