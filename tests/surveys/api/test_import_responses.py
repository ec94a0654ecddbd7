"""`rapport import responses FILE --survey ID`: answer columns by question key, all-or-nothing
with line/column errors, --skip-invalid with a rejects file, --map, NDJSON, re-runs."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from rapport.surveys.models import Response

HEADER = "id,completed,customer_external_id,satisfaction,went_wrong,comment,language"


def write(tmp_path, name, lines):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import", "responses", *map(str, args), "--no-progress", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


MAP = ["--map", "id=external_id", "--map", "completed=completed_at"]


def test_csv_import_maps_columns_and_reruns_as_duplicates(tmp_path, make_survey, crm_customer):
    survey = make_survey("csat")
    path = write(tmp_path, "answers.csv", [
        HEADER,
        "r1,2025-03-01T10:00:00+08:00,CRM-1,5,,Lovely,en",
        'r2,2025-03-02 11:00,CRM-1,2,"Waited, then left",,zh-hant',
    ])  # fmt: skip
    out, _err = run(path, "--survey", survey.pk, "--source", "crm", *MAP)
    assert "2 created" in out
    two = Response.objects.get(answers__value_text="Waited, then left")
    assert (two.csat, two.csat_top2, two.language) == (2, False, "zh-hant")
    out, _err = run(path, "--survey", survey.pk, "--source", "crm", *MAP)
    assert "0 created" in out and "2 duplicates" in out
    assert Response.objects.count() == 2


def test_a_bad_row_writes_nothing_and_says_where(tmp_path, make_survey, crm_customer):
    survey = make_survey("csat")
    path = write(tmp_path, "answers.csv", [
        HEADER,
        "r1,2025-03-01T10:00:00+08:00,CRM-1,5,,,en",
        "r2,2025-03-01T10:00:00+08:00,CRM-1,9,,,en",
        "r3,not a date,CRM-1,4,,,en",
    ])  # fmt: skip
    err = io.StringIO()
    with pytest.raises(CommandError, match="nothing was written"):
        call_command("import", "responses", str(path), "--survey", str(survey.pk), "--source",
                     "crm", *MAP, "--no-progress", stderr=err)  # fmt: skip
    assert "line 3, satisfaction: Please choose a number from 1 to 5." in err.getvalue()
    assert "line 4, completed_at" in err.getvalue()
    assert Response.objects.count() == 0


def test_skip_invalid_writes_the_good_rows_and_a_rejects_file(tmp_path, make_survey, crm_customer):
    survey = make_survey("csat")
    path = write(tmp_path, "answers.csv", [
        HEADER,
        "r1,2025-03-01T10:00:00+08:00,CRM-1,5,,,en",
        "r2,2025-03-01T10:00:00+08:00,CRM-404,4,,,en",
    ])  # fmt: skip
    out, _err = run(path, "--survey", survey.pk, "--source", "crm", *MAP, "--skip-invalid")
    assert "1 created" in out and "1 rejected" in out
    rejects = (tmp_path / "answers.rejects.csv").read_text(encoding="utf-8")
    assert "CRM-404" in rejects and "no customer with external id CRM-404" in rejects


def test_unknown_columns_and_missing_survey_stop_before_any_row(tmp_path, make_survey):
    survey = make_survey("csat")
    path = write(tmp_path, "answers.csv", ["completed_at,satisfaction,colour", "2025-03-01,5,red"])
    with pytest.raises(CommandError, match="unexpected columns: colour"):
        run(path, "--survey", survey.pk)
    with pytest.raises(CommandError, match="--survey"):
        run(path)
    with pytest.raises(CommandError, match="Survey 424242 does not exist"):
        run(path, "--survey", 424242)


def test_ndjson_with_nested_and_flat_answers(tmp_path, make_survey, crm_customer):
    survey = make_survey("nps")
    lines = [
        json.dumps({"external_id": "n1", "completed_at": "2025-03-01T10:00:00Z",
                    "answers": {"recommend": 6, "why": "Price", "improve": "Cheaper"}}),
        json.dumps({"external_id": "n2", "completed_at": "2025-03-01T10:00:00Z", "recommend": 10}),
    ]  # fmt: skip
    out, _err = run(write(tmp_path, "answers.ndjson", lines), "--survey", survey.pk)
    assert "2 created" in out
    assert sorted(Response.objects.values_list("nps_class", flat=True)) == [
        "detractor",
        "promoter",
    ]
