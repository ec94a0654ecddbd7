"""`rapport import`: files in the encodings, formats and shapes other systems export."""

import gzip
import json

import pytest
from django.core.management import CommandError, call_command

from rapport.customers.models import Customer, SourceSystem
from rapport.touchpoints.models import Touchpoint

HEADER = (
    "external_id,customer_external_id,customer_name,occurred_at,kind,channel,unit,amount,currency"
)
ROWS = [
    "t1,c1,林小姐,2024-05-01T10:00:00,service_visit,branch,taipei,1200,TWD",
    "t2,c1,林小姐,2024-05-02T10:00:00,purchase,branch,taipei,,",
    "t3,c2,陳先生,2024-05-03T10:00:00,inquiry,phone,kaohsiung,,",
]


def write(tmp_path, name, lines, encoding="utf-8", compress=False):
    data = ("\n".join(lines) + "\n").encode(encoding)
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def run(*args):
    """Run the command; (stdout, stderr)."""
    import io

    out, err = io.StringIO(), io.StringIO()
    call_command("import", *map(str, args), "--no-progress", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_csv_import_and_idempotent_rerun(org, tmp_path):
    path = write(tmp_path, "tp.csv", [HEADER, *ROWS])
    out, _err = run("touchpoints", path, "--source", "dms")
    assert "New source system dms created." in out
    assert "3 created" in out and "0 rejected" in out and "rows/s" in out
    assert Touchpoint.objects.count() == 3
    assert set(Customer.objects.values_list("display_name", flat=True)) == {"林小姐", "陳先生"}
    out, _err = run("touchpoints", path, "--source", "dms")
    assert "0 created" in out and "3 duplicates" in out and "New source" not in out
    assert Touchpoint.objects.count() == 3


def test_default_source_is_import(org, tmp_path):
    run("touchpoints", write(tmp_path, "tp.csv", [HEADER, *ROWS]))
    assert SourceSystem.objects.get().code == "import"


def test_one_bad_row_writes_nothing_and_says_where(org, tmp_path):
    bad = "t4,c3,,2099-01-01T00:00:00,teleport,pigeon,atlantis,1,TWD"
    path = write(tmp_path, "tp.csv", [HEADER, *ROWS, bad])
    with pytest.raises(CommandError, match="1 rows rejected, so nothing was written"):
        out, err = run("touchpoints", path)
    assert not Touchpoint.objects.exists() and not Customer.objects.exists()
    assert not SourceSystem.objects.exists()


def test_error_list_names_line_and_column(org, tmp_path, capsys):
    bad = "t4,c3,,2099-01-01T00:00:00,teleport,pigeon,atlantis,1,TWD"
    path = write(tmp_path, "tp.csv", [HEADER, *ROWS, bad])
    import io

    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import", "touchpoints", str(path), "--no-progress", stderr=err)
    lines = err.getvalue().splitlines()
    assert any("line 5, occurred_at" in line and "future" in line for line in lines)
    assert any("line 5, kind" in line and "teleport" in line for line in lines)
    assert any("line 5, channel" in line for line in lines)
    assert any("line 5, unit" in line and "atlantis" in line for line in lines)


def test_many_errors_are_capped(org, tmp_path):
    import io

    rows = [f"t{i},c1,,2024-01-01T00:00:00,bogus,branch,,," for i in range(150)]
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import", "touchpoints", str(write(tmp_path, "tp.csv", [HEADER, *rows])),
                     "--no-progress", stderr=err)  # fmt: skip
    assert err.getvalue().count("bogus") == 100
    assert "and 50 more problems" in err.getvalue()


def test_skip_invalid_writes_good_rows_and_a_rejects_file(org, tmp_path):
    bad = "t4,c3,,not-a-date,inquiry,branch,,,"
    path = write(tmp_path, "tp.csv", [HEADER, ROWS[0], bad, ROWS[1]])
    out, _err = run("touchpoints", path, "--skip-invalid")
    assert "2 created" in out and "1 rejected" in out
    rejects = tmp_path / "tp.rejects.csv"
    assert f"Rejected rows with their reasons: {rejects}" in out
    lines = rejects.read_text(encoding="utf-8").splitlines()
    assert lines[0] == HEADER + ",_line,_error"
    assert lines[1].startswith(
        't4,c3,,not-a-date,inquiry,branch,,,,3,"occurred_at: not-a-date is not'
    )
    # once fixed, the rejects file imports as it is (_line and _error are ignored)
    rejects.write_text(
        rejects.read_text(encoding="utf-8").replace("not-a-date", "2024-01-01T00:00"),
        encoding="utf-8",
    )
    out, _err = run("touchpoints", rejects)
    assert "1 created" in out
    assert Touchpoint.objects.count() == 3


def test_missing_and_unexpected_columns_stop_before_any_row(org, tmp_path):
    with pytest.raises(CommandError, match="missing required columns: occurred_at"):
        run("touchpoints", write(tmp_path, "a.csv", ["customer_external_id,kind", "c1,inquiry"]))
    with pytest.raises(CommandError, match="needs one of the columns customer_external_id"):
        run("touchpoints", write(tmp_path, "b.csv", ["occurred_at,kind", "2024-01-01,inquiry"]))
    with pytest.raises(CommandError, match=r"unexpected columns: Colour, Notes\. .*--map"):
        run("touchpoints", write(tmp_path, "c.csv", [HEADER + ",Colour,Notes", ROWS[0] + ",red,x"]))
    assert not Touchpoint.objects.exists()


def test_map_renames_columns_and_context_prefix_keeps_extras(org, tmp_path):
    lines = [
        "Id,Member,When,Type,Branch,context.plate",
        "a1,m1,2024-01-01T09:00:00,inquiry,taipei,ABC-123",
    ]
    path = write(tmp_path, "x.csv", lines)
    run("touchpoints", path, "--map", "Id=external_id", "--map", "Member=customer_external_id",
        "--map", "When=occurred_at", "--map", "Type=kind", "--map", "Branch=unit")  # fmt: skip
    tp = Touchpoint.objects.get()
    assert (tp.external_id, tp.unit.code, tp.context) == ("a1", "taipei", {"plate": "ABC-123"})
    with pytest.raises(CommandError, match="--map wants COLUMN=FIELD"):
        run("touchpoints", path, "--map", "Id")
    with pytest.raises(CommandError, match="--map names columns the file does not have: Nope"):
        run("touchpoints", path, "--map", "Nope=kind")


def test_wrong_number_of_values_is_a_row_error(org, tmp_path):
    path = write(tmp_path, "tp.csv", [HEADER, ROWS[0], "t9,c1,,2024-01-01T00:00:00"])
    import io

    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import", "touchpoints", str(path), "--no-progress", stderr=err)
    assert "line 3: the row has 4 values, the header 9" in err.getvalue()


@pytest.mark.parametrize(
    "encoding, label, codec",
    [("gbk", "GBK/GB18030", "gb18030"), ("big5", "Big5", "cp950")],
)
def test_chinese_encodings(org, tmp_path, encoding, label, codec):
    rows = [
        "t1,c1,林小姐,2024-05-01T10:00:00,service_visit,branch,taipei,1200,TWD",
        "t2,c2,陳先生,2024-05-02T10:00:00,purchase,branch,taipei,,",
        "t3,c3,王大明,2024-05-03T10:00:00,inquiry,phone,kaohsiung,,",
        "t4,c4,張美玲,2024-05-04T10:00:00,complaint,phone,kaohsiung,,",
    ]
    path = write(tmp_path, f"{encoding}.csv", [HEADER, *rows], encoding=encoding)
    with pytest.raises(CommandError) as info:
        run("touchpoints", path)
    message = str(info.value)
    assert "not UTF-8" in message and label in message and f"--encoding {codec}" in message
    assert "Nothing was written" in message and not Customer.objects.exists()
    out, _err = run("touchpoints", path, "--encoding", codec)
    assert "4 created" in out
    assert set(Customer.objects.values_list("display_name", flat=True)) == {
        "林小姐",
        "陳先生",
        "王大明",
        "張美玲",
    }


def test_bom_gzip_and_ndjson(org, tmp_path):
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + ("\r\n".join([HEADER, ROWS[0]]) + "\r\n").encode())
    assert "1 created" in run("touchpoints", bom)[0]
    # gzip is found by its magic bytes, whatever the name says
    assert (
        "1 created"
        in run("touchpoints", write(tmp_path, "t.data", [HEADER, ROWS[1]], compress=True))[0]
    )
    records = [
        {"external_id": "j1", "customer_external_id": "c9", "occurred_at": "2024-05-01T10:00:00",
         "kind": "web_visit", "channel": "web", "context": {"page": "/prices"}, "amount": 12.5,
         "currency": "twd"},
    ]  # fmt: skip
    path = write(
        tmp_path, "t.jsonl.gz", [json.dumps(r, ensure_ascii=False) for r in records], compress=True
    )
    assert "1 created" in run("touchpoints", path)[0]
    assert Touchpoint.objects.get(external_id="j1").context == {"page": "/prices"}


def test_ndjson_bad_line_is_named(org, tmp_path):
    import io

    good = json.dumps({"external_id": "j1", "customer_external_id": "c9",
                       "occurred_at": "2024-05-01T10:00:00", "kind": "web_visit"})  # fmt: skip
    path = write(tmp_path, "t.ndjson", [good, "", '{"external_id": "j2", oops}', "[1, 2]"])
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import", "touchpoints", str(path), "--no-progress", stderr=err)
    assert "line 3: invalid JSON" in err.getvalue()
    assert "line 4: expected a JSON object" in err.getvalue()
    out, _err = run("touchpoints", path, "--skip-invalid")
    assert "1 created" in out and "2 rejected" in out
    rejects = (tmp_path / "t.rejects.ndjson").read_text().splitlines()
    assert [json.loads(line)["_line"] for line in rejects] == [3, 4]


def test_empty_files_and_other_file_problems(db, tmp_path):
    with pytest.raises(CommandError, match="is empty"):
        run("touchpoints", write(tmp_path, "e.csv", [""]))
    with pytest.raises(CommandError, match="is empty"):
        run("touchpoints", write(tmp_path, "e.csv.gz", [""], compress=True))
    with pytest.raises(CommandError, match="no such file"):
        run("touchpoints", tmp_path / "missing.csv")
    with pytest.raises(CommandError, match="JSON array"):
        run("touchpoints", write(tmp_path, "a.json", ["[{}]"]))
    with pytest.raises(CommandError, match="Unknown encoding"):
        run("touchpoints", write(tmp_path, "ok.csv", [HEADER]), "--encoding", "klingon")
    with pytest.raises(CommandError, match="invalid source"):
        run("touchpoints", write(tmp_path, "ok.csv", [HEADER, ROWS[0]]), "--source", "a b")
    out, _err = run("touchpoints", write(tmp_path, "h.csv", [HEADER]))
    assert "0 created" in out


def test_customers_import(org, tmp_path):
    lines = [
        "external_id,name,email,phone,language,unit,consent.email.marketing",
        "c1,林小姐,LIN@example.com,0912345678,zh-TW,taipei,是",
        "c2,Chen,chen@example.com,,zh-CN,,否",
    ]
    out, _err = run("customers", write(tmp_path, "c.csv", lines), "--source", "crm")
    assert "2 created" in out
    lin = Customer.objects.get(email="lin@example.com")
    assert (lin.phone, lin.preferred_language) == ("+886912345678", "zh-hant")
    assert lin.may_contact("email", "marketing")
    assert "2 duplicates" in run("customers", write(tmp_path, "c.csv", lines), "--source", "crm")[0]


@pytest.mark.parametrize("per_statement", [10, 100])
def test_multi_row_statements_keep_first_of_repeats_and_count(
    org, tmp_path, monkeypatch, per_statement
):
    """Rows go in many to a statement (ROWS_PER_STATEMENT) plus a remainder one by one: a repeat
    inside one statement, across statements and in the remainder keeps the first in the file,
    and the counts add up."""
    monkeypatch.setattr("rapport.core.bulkload.ROWS_PER_STATEMENT", per_statement)
    before = write(
        tmp_path,
        "before.csv",
        [HEADER, "t7,c9,Old,2024-01-01T10:00:00,purchase,branch,taipei,1,TWD"],
    )
    run("touchpoints", before, "--source", "dms")
    lines = [
        f"t{i},c{i % 3},Name,2024-05-{1 + i % 28:02d}T10:00:00,purchase,branch,taipei,{i},TWD"
        for i in range(237)
    ]
    # repeats: t3 right after itself, t120 far later, t7 stored before, t236 in the remainder
    lines += [
        "t3,c2,Name,2024-06-01T10:00:00,purchase,branch,taipei,999,TWD",
        "t120,c2,Name,2024-06-01T10:00:00,purchase,branch,taipei,999,TWD",
        "t7,c2,Name,2024-06-01T10:00:00,purchase,branch,taipei,999,TWD",
        "t236,c2,Name,2024-06-01T10:00:00,purchase,branch,taipei,999,TWD",
    ]
    out, _err = run("touchpoints", write(tmp_path, "tp.csv", [HEADER, *lines]), "--source", "dms")
    assert "236 created" in out and "5 duplicates" in out, out
    assert Touchpoint.objects.count() == 237
    amounts = dict(Touchpoint.objects.values_list("external_id", "amount"))
    assert (amounts["t3"], amounts["t120"], amounts["t7"], amounts["t236"]) == (3, 120, 1, 236)
    assert sorted(int(e[1:]) for e in amounts) == list(range(237))
