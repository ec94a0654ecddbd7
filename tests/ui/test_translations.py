"""Every Chinese catalogue is complete: every entry translated, none fuzzy, placeholders kept,
every string marked in the source present, and the committed .mo files compiled from the .po
files as they are.

All translations live in rapport/locale (one catalogue per language, for translators); an app
that grows its own locale/ directory is checked here too and fails the single-catalogue test."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "rapport"
LOCALE = PACKAGE / "locale"
LANGUAGES = ["zh_Hant", "zh_Hans"]
CATALOGUES = sorted(PACKAGE.glob("**/locale/*/LC_MESSAGES/django.po"))
# printf-style (named or not), %% and str.format-style {name} placeholders
PLACEHOLDER = re.compile(r"%(?:\(\w+\))?[-#0 +]*\d*(?:\.\d+)?[sdrfg]|%%|\{\w*\}")


def entries(po: Path) -> list[dict]:
    """The catalogue's entries (blocks separated by blank lines; obsolete ones skipped), each
    with its msgid, msgstr list (one per plural form) and flags. gettext's own parser is not
    in the standard library, and polib is not a dependency."""
    found = []
    for block in po.read_text(encoding="utf-8").split("\n\n"):
        entry: dict = {"msgctxt": None, "msgid": "", "msgstr": [], "flags": set()}
        field = None
        for line in block.splitlines():
            if line.startswith("#,"):
                entry["flags"] |= {f.strip() for f in line[2:].split(",")}
            elif line.startswith("#"):
                continue
            elif line.startswith('"') and field is not None:
                if field == "msgstr":
                    entry["msgstr"][-1] += ast.literal_eval(line)
                elif field in ("msgid", "msgctxt"):
                    entry[field] += ast.literal_eval(line)
            else:
                keyword, _sep, rest = line.partition(" ")
                field = "msgstr" if keyword.startswith("msgstr") else keyword
                if field == "msgstr":
                    entry["msgstr"].append(ast.literal_eval(rest))
                elif field in ("msgid", "msgctxt"):
                    entry[field] = ast.literal_eval(rest)
        if entry["msgid"]:  # the header has an empty msgid
            found.append(entry)
    return found


def test_one_catalogue_per_language_in_rapport_locale():
    assert sorted(LOCALE / lang / "LC_MESSAGES" / "django.po" for lang in LANGUAGES) == CATALOGUES


@pytest.mark.parametrize("po", CATALOGUES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_entry_is_translated_and_none_is_fuzzy(po):
    catalogue = entries(po)
    assert len(catalogue) > 200
    untranslated = [e["msgid"] for e in catalogue if not all(s.strip() for s in e["msgstr"])]
    fuzzy = [e["msgid"] for e in catalogue if "fuzzy" in e["flags"]]
    assert untranslated == [] and fuzzy == []


@pytest.mark.parametrize("po", CATALOGUES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_placeholders_survive_translation(po):
    for entry in entries(po):
        wanted = sorted(PLACEHOLDER.findall(entry["msgid"]))
        for text in entry["msgstr"]:
            assert sorted(PLACEHOLDER.findall(text)) == wanted, entry["msgid"]


def test_the_two_catalogues_hold_the_same_messages():
    hant = {
        (e["msgctxt"], e["msgid"])
        for e in entries(LOCALE / "zh_Hant" / "LC_MESSAGES" / "django.po")
    }
    hans = {
        (e["msgctxt"], e["msgid"])
        for e in entries(LOCALE / "zh_Hans" / "LC_MESSAGES" / "django.po")
    }
    assert hant == hans


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="gettext's xgettext is not installed")
def test_every_marked_string_is_in_the_catalogue(tmp_path):
    """makemessages on a copy of the source finds nothing the catalogue lacks (run
    `django-admin makemessages -l zh_Hant -l zh_Hans --ignore=static` in rapport/ and
    translate what it adds)."""
    copy = tmp_path / "rapport"
    shutil.copytree(
        PACKAGE, copy, ignore=shutil.ignore_patterns("static", "locale", "__pycache__", "*.mo")
    )
    (copy / "locale").mkdir()
    admin = Path(sys.executable).with_name("django-admin")
    subprocess.run(
        [str(admin), "makemessages", "-l", "zh_Hans", "--no-location"],
        cwd=copy,
        capture_output=True,
        check=True,
    )
    wanted = {
        (e["msgctxt"], e["msgid"]) for e in entries(copy / "locale/zh_Hans/LC_MESSAGES/django.po")
    }
    have = {
        (e["msgctxt"], e["msgid"])
        for e in entries(LOCALE / "zh_Hans" / "LC_MESSAGES" / "django.po")
    }
    assert sorted(wanted - have, key=str) == []


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="gettext's msgfmt is not installed")
@pytest.mark.parametrize("po", CATALOGUES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_committed_mo_files_match_the_po_files(po, tmp_path):
    fresh = tmp_path / "django.mo"
    result = subprocess.run(
        ["msgfmt", "--check", "--statistics", "-o", str(fresh), str(po)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "untranslated" not in result.stderr and "fuzzy" not in result.stderr
    committed = po.with_suffix(".mo")
    assert committed.read_bytes() == fresh.read_bytes(), "run `make messages` and commit the .mo"
