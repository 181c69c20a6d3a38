"""The translation pipeline (#20): every string the code marks is in each
catalog, translated, not fuzzy; each committed .mo says what its .po says;
a user whose language is German sees the pages in German, in their time zone.

How to refresh and compile the catalogs: apps/iam/README.md, "Translations"
(``manage.py refresh_translations``).
"""

from __future__ import annotations

import datetime
import gettext
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings

from apps.iam.management.commands.refresh_translations import (
    IGNORE,
    catalog_languages,
    make_messages,
)

LOCALE = Path(settings.BASE_DIR) / "locale"
NOW = datetime.datetime(2026, 11, 26, 15, 0, tzinfo=datetime.UTC)
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")
HOW_TO_FIX = "run `python manage.py refresh_translations` and translate (apps/iam/README.md)"


@dataclass
class Entry:
    context: str | None = None
    msgid: str = ""
    plural: str | None = None
    strings: dict[int, str] = field(default_factory=dict)
    fuzzy: bool = False

    @property
    def key(self) -> tuple[str | None, str]:
        return (self.context, self.msgid)


def parse_po(path: Path) -> list[Entry]:
    """The live entries of a .po file (obsolete ``#~`` ones and the header
    left out). Enough of the format for what makemessages writes."""
    entries: list[Entry] = []
    current = Entry()
    target: tuple[str, int] | None = None

    def finish() -> None:
        nonlocal current
        if current.msgid:
            entries.append(current)
        current = Entry()

    for raw in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        line = raw.strip()
        if not line:
            finish()
            target = None
            continue
        if line.startswith("#,") and "fuzzy" in line:
            current.fuzzy = True
        if line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        if line.startswith('"'):
            value, keyword = _unquote(line), ""
        else:
            value = _unquote(rest)
        if keyword == "msgctxt":
            current.context, target = value, ("context", 0)
        elif keyword == "msgid":
            current.msgid, target = value, ("msgid", 0)
        elif keyword == "msgid_plural":
            current.plural, target = value, ("plural", 0)
        elif keyword.startswith("msgstr"):
            index = int(keyword[7:-1]) if "[" in keyword else 0
            current.strings[index], target = value, ("msgstr", index)
        elif target is not None:  # a continuation line
            kind, index = target
            if kind == "context":
                current.context = (current.context or "") + value
            elif kind == "msgid":
                current.msgid += value
            elif kind == "plural":
                current.plural = (current.plural or "") + value
            else:
                current.strings[index] += value
    return entries


def _unquote(text: str) -> str:
    body = text.strip()[1:-1]
    escapes = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}
    return re.sub(r"\\(.)", lambda m: escapes.get(m.group(1), m.group(0)), body)


def _label(entry: Entry) -> str:
    return f"{entry.context}|{entry.msgid!r}" if entry.context else repr(entry.msgid)


def _po(language: str) -> Path:
    return LOCALE / language / "LC_MESSAGES" / "django.po"


@pytest.fixture(params=catalog_languages())
def language(request: pytest.FixtureRequest) -> str:
    return request.param


# --- (a) the catalog holds every marked string, translated -------------------------------


def test_every_catalog_entry_is_translated_and_not_fuzzy(language):
    entries = parse_po(_po(language))
    assert entries, f"no catalog for {language}"
    untranslated = [
        _label(e)
        for e in entries
        if not e.strings or any(not s for s in e.strings.values()) or e.fuzzy
    ]
    assert not untranslated, (
        f"{len(untranslated)} untranslated or fuzzy in locale/{language} "
        f"({HOW_TO_FIX}):\n" + "\n".join(untranslated)
    )
    # A translation keeps the original's placeholders (a missing %(name)s
    # would raise or drop data when the page renders).
    broken = [
        _label(e)
        for e in entries
        for s in e.strings.values()
        if set(PLACEHOLDER.findall(s)) != set(PLACEHOLDER.findall(e.plural or e.msgid))
        and set(PLACEHOLDER.findall(s)) != set(PLACEHOLDER.findall(e.msgid))
    ]
    assert not broken, "placeholders differ from the original:\n" + "\n".join(broken)


@pytest.mark.skipif(
    shutil.which("xgettext") is None or shutil.which("msgmerge") is None,
    reason="GNU gettext (xgettext, msgmerge) is not installed: scripts/ensure_test_packages.sh",
)
def test_every_marked_string_is_in_the_catalog(tmp_path, monkeypatch, language):
    """makemessages over a copy of the code, merged into a copy of the
    committed catalog: any msgid it adds (or turns fuzzy) is missing from the
    committed one, any it drops is stale there."""
    root = Path(settings.BASE_DIR)
    for name in ("apps", "templates", "config", "tenants"):
        shutil.copytree(
            root / name,
            tmp_path / name,
            ignore=shutil.ignore_patterns("__pycache__", *IGNORE),
        )
    shutil.copytree(LOCALE, tmp_path / "locale")
    monkeypatch.chdir(tmp_path)
    with override_settings(LOCALE_PATHS=[tmp_path / "locale"]):
        make_messages(verbosity=0)

    committed = {e.key: e for e in parse_po(_po(language))}
    made = tmp_path / "locale" / language / "LC_MESSAGES" / "django.po"
    fresh = {e.key: e for e in parse_po(made)}
    missing = [_label(e) for key, e in fresh.items() if key not in committed]
    changed = [
        _label(e)
        for key, e in fresh.items()
        if key in committed and (e.fuzzy or any(not s for s in e.strings.values()))
    ]
    stale = [_label(e) for key, e in committed.items() if key not in fresh]
    assert not missing, (
        f"{len(missing)} marked strings missing from locale/{language} ({HOW_TO_FIX}):\n"
        + "\n".join(missing)
    )
    assert not changed, f"entries that need a translation again ({HOW_TO_FIX}):\n" + "\n".join(
        changed
    )
    assert not stale, f"strings no longer in the code ({HOW_TO_FIX}):\n" + "\n".join(stale)


# --- (b) the committed .mo is the compiled .po ---------------------------------------------


def test_compiled_catalog_matches_the_po(language):
    """The .mo Django loads holds exactly the .po's translations (compared
    through Python's gettext reader: no gettext tools needed)."""
    mo = _po(language).with_suffix(".mo")
    assert mo.exists(), f"locale/{language}: no django.mo ({HOW_TO_FIX})"
    with mo.open("rb") as handle:
        catalog = dict(gettext.GNUTranslations(handle)._catalog)  # type: ignore[attr-defined]
    catalog.pop("", None)  # the header
    expected: dict[object, str] = {}
    for entry in parse_po(_po(language)):
        msgid = f"{entry.context}\x04{entry.msgid}" if entry.context else entry.msgid
        if entry.plural is None:
            expected[msgid] = entry.strings[0]
        else:
            expected.update({(msgid, n): s for n, s in entry.strings.items()})
    stale = sorted(repr(k) for k in expected.keys() ^ catalog.keys())
    stale += sorted(repr(k) for k in expected.keys() & catalog.keys() if expected[k] != catalog[k])
    assert not stale, (
        f"locale/{language}/LC_MESSAGES/django.mo is not the compiled .po "
        "(run `python manage.py compilemessages`):\n" + "\n".join(stale)
    )


# --- (c) a German user sees German, in their time zone ---------------------------------------


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_german_user_sees_german_in_their_time_zone(in_tenant):
    from apps.iam.models import User
    from apps.iam.tests.factories import DEFAULT_PASSWORD
    from apps.organizations.tests.factories import MembershipFactory
    from apps.projects.tests.factories import ProjectFactory
    from apps.time_entries.tests.factories import TimeEntryFactory
    from tenants.testing import TenantAPIClient

    membership = MembershipFactory(organization=in_tenant, role="member")
    User.objects.filter(pk=membership.user_id).update(language="de", timezone="Asia/Tokyo")
    TimeEntryFactory(
        user_id=membership.user_id,
        project=ProjectFactory(),
        description="Planung",
        started_at=NOW - datetime.timedelta(hours=3),  # 12:00 UTC = 21:00 in Tokyo
        ended_at=NOW - datetime.timedelta(hours=2),
    )
    client = TenantAPIClient(in_tenant, HTTP_ACCEPT="text/html", HTTP_ACCEPT_LANGUAGE="en")
    signin = client.post("/signin/", {"email": membership.user.email, "password": DEFAULT_PASSWORD})
    assert signin.status_code == 302

    response = client.get("/")

    page = response.content.decode()
    assert response["Content-Language"] == "de"  # the user's choice beats Accept-Language
    assert '<html lang="de">' in page and "<h1>Zeit</h1>" in page
    assert ">Timer starten</button>" in page and ">Abmelden</button>" in page
    assert ">Stundenzettel</a>" in page and "Summe dieser Woche" in page
    assert "21:00\u201322:00" in page and "12:00\u201313:00" not in page
    # The account page shows the same zone and its German labels.
    account = client.get("/account/").content.decode()
    assert "Zeiten werden in Asia/Tokyo angezeigt." in account
    assert '<label for="id_timezone">Zeitzone</label>' in account


def test_settings_name_each_catalog_language():
    """Every non-English language of settings.LANGUAGES has a catalog, and
    every catalog a language (a stray locale/xx would never be offered)."""
    on_disk = sorted(p.name for p in LOCALE.iterdir() if (p / "LC_MESSAGES").is_dir())
    assert on_disk == sorted(catalog_languages())
    call_command("check")  # LANGUAGE_CODE / LANGUAGES consistent (translation.E004)


@pytest.mark.django_db
def test_api_messages_follow_the_token_users_language(public_client):
    """A token client is known only inside DRF's view: the token
    authentication applies the user's language; the timestamps stay UTC."""
    from apps.iam.tests.factories import UserFactory
    from apps.iam.tokens import token_create

    german = UserFactory(language="de")
    _token, key = token_create(user=german)
    public_client.credentials(HTTP_AUTHORIZATION=f"Token {key}")

    response = public_client.patch(
        "/api/v1/auth/user/", {"timezone": "Mars/Olympus"}, format="json"
    )

    assert response.status_code == 400
    assert response["Content-Language"] == "de"
    assert "Unbekannte Zeitzone: 'Mars/Olympus'." in str(response.json())
    undecided = UserFactory()
    _token, key = token_create(user=undecided)
    public_client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    english = public_client.patch("/api/v1/auth/user/", {"timezone": "Mars"}, format="json")
    assert "Unknown time zone: 'Mars'." in str(english.json())
