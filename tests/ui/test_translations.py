"""Both Chinese catalogues are complete: every entry translated, none fuzzy, placeholders kept,
and the committed .mo files compiled from the .po files as they are."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
from pathlib import Path

import pytest

LOCALE = Path(__file__).resolve().parents[2] / "rapport" / "locale"
LANGUAGES = ["zh_Hant", "zh_Hans"]
PLACEHOLDER = re.compile(r"%\(\w+\)[-#0 +]*\d*(?:\.\d+)?[sdrfg]|%%")


def entries(po: Path) -> list[dict]:
    """The catalogue's entries (blocks separated by blank lines; obsolete ones skipped), each
    with its msgid, msgstr list (one per plural form) and flags. gettext's own parser is not
    in the standard library, and polib is not a dependency."""
    found = []
    for block in po.read_text(encoding="utf-8").split("\n\n"):
        entry: dict = {"msgid": "", "msgstr": [], "flags": set()}
        field = None
        for line in block.splitlines():
            if line.startswith("#,"):
                entry["flags"] |= {f.strip() for f in line[2:].split(",")}
            elif line.startswith("#"):
                continue
            elif line.startswith('"') and field is not None:
                if field == "msgstr":
                    entry["msgstr"][-1] += ast.literal_eval(line)
                elif field == "msgid":
                    entry["msgid"] += ast.literal_eval(line)
            else:
                keyword, _sep, rest = line.partition(" ")
                field = "msgstr" if keyword.startswith("msgstr") else keyword
                if field == "msgstr":
                    entry["msgstr"].append(ast.literal_eval(rest))
                elif field == "msgid":
                    entry["msgid"] = ast.literal_eval(rest)
        if entry["msgid"]:  # the header has an empty msgid
            found.append(entry)
    return found


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_entry_is_translated_and_none_is_fuzzy(language):
    catalogue = entries(LOCALE / language / "LC_MESSAGES" / "django.po")
    assert len(catalogue) > 200
    untranslated = [e["msgid"] for e in catalogue if not all(s.strip() for s in e["msgstr"])]
    fuzzy = [e["msgid"] for e in catalogue if "fuzzy" in e["flags"]]
    assert untranslated == [] and fuzzy == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_placeholders_survive_translation(language):
    for entry in entries(LOCALE / language / "LC_MESSAGES" / "django.po"):
        wanted = sorted(PLACEHOLDER.findall(entry["msgid"]))
        for text in entry["msgstr"]:
            assert sorted(PLACEHOLDER.findall(text)) == wanted, entry["msgid"]


def test_the_two_catalogues_hold_the_same_messages():
    hant = {e["msgid"] for e in entries(LOCALE / "zh_Hant" / "LC_MESSAGES" / "django.po")}
    hans = {e["msgid"] for e in entries(LOCALE / "zh_Hans" / "LC_MESSAGES" / "django.po")}
    assert hant == hans


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="gettext's msgfmt is not installed")
@pytest.mark.parametrize("language", LANGUAGES)
def test_committed_mo_files_match_the_po_files(language, tmp_path):
    po = LOCALE / language / "LC_MESSAGES" / "django.po"
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
