"""`rapport import touchpoints` of a big file: read and validated in a child process while the
command's process writes (rapport.core.ingestion.in_child_process). Forced here on small files."""

import functools
import io
import os

import pytest
from django.core.management import CommandError, call_command

from rapport.core import ingestion
from rapport.customers.models import Customer, CustomerIdentity
from rapport.touchpoints import records
from rapport.touchpoints.models import Touchpoint

pytestmark = pytest.mark.skipif(not ingestion.can_fork(), reason="needs fork and 2 CPUs")

HEADER = (
    "external_id,customer_external_id,customer_name,occurred_at,kind,channel,unit,amount,currency"
)


@pytest.fixture(autouse=True)
def parallel(monkeypatch):
    command = __import__("rapport.core.management.commands.import", fromlist=["x"])
    monkeypatch.setattr(command, "PARALLEL_BYTES", 0)
    few = functools.partial(ingestion.batches, size=7)  # many batches from a few rows
    monkeypatch.setattr("rapport.customers.ingest.batches", few)
    spy = []
    real = ingestion.in_child_process

    def counted(*args, **kwargs):
        spy.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr("rapport.customers.ingest.in_child_process", counted)
    return spy


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("import", *map(str, args), "--no-progress", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def rows(n, start=0, customers=5, unit="taipei"):
    return [
        f"t{i},c{i % customers},Name {i % customers},2024-05-{1 + i % 28:02d}T10:00:00,"
        f"purchase,branch,{unit},{i}.50,TWD"
        for i in range(start, start + n)
    ]


def test_known_and_new_customers_in_file_order(org, tmp_path, parallel):
    first = tmp_path / "first.csv"
    first.write_text("\n".join([HEADER, *rows(3, customers=3)]) + "\n")
    run("touchpoints", first, "--source", "dms")  # c0..c2 known before the big import
    assert len(parallel) == 1
    # c0..c9: three known, seven created on the way and reused in later batches; t5 repeated
    # with another customer: the first one in the file wins
    lines = [HEADER, *rows(60, start=3, customers=10)]
    lines.append("t5,c9,x,2024-06-01T10:00:00,purchase,branch,taipei,1,TWD")
    path = tmp_path / "big.csv"
    path.write_text("\n".join(lines) + "\n")
    out, _err = run("touchpoints", path, "--source", "dms")
    assert "60 created" in out and "1 duplicates" in out
    assert Customer.objects.count() == 10
    assert CustomerIdentity.objects.filter(source__code="dms").count() == 10
    by_ext = dict(CustomerIdentity.objects.values_list("external_id", "customer_id"))
    for tp in Touchpoint.objects.filter(external_id__in=["t5", "t13", "t40", "t62"]):
        assert tp.customer_id == by_ext[f"c{int(tp.external_id[1:]) % 10}"]
    assert str(Touchpoint.objects.get(external_id="t40").amount) == "40.50"
    again, _err = run("touchpoints", path, "--source", "dms")
    assert "0 created" in again and "61 duplicates" in again
    assert Touchpoint.objects.count() == 63


def test_one_bad_row_writes_nothing_and_says_where(org, tmp_path):
    lines = [HEADER, *rows(30)]
    lines[25] = lines[25].replace("purchase", "teleport")
    path = tmp_path / "tp.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(CommandError, match="1 rows rejected"):
        run("touchpoints", path)
    assert not Touchpoint.objects.exists() and not Customer.objects.exists()


def test_skip_invalid_writes_the_rest_and_the_rejects_file(org, tmp_path):
    lines = [HEADER, *rows(30)]
    lines[12] = lines[12].replace("taipei", "atlantis")
    path = tmp_path / "tp.csv"
    path.write_text("\n".join(lines) + "\n")
    out, err = run("touchpoints", path, "--skip-invalid")
    assert "29 created" in out and "1 rejected" in out
    assert "line 13, unit: unknown unit atlantis" in err
    rejects = (tmp_path / "tp.rejects.csv").read_text()
    assert "t11" in rejects and "atlantis" in rejects


def test_reader_process_dying_rolls_back_with_a_clear_message(org, tmp_path, monkeypatch):
    real = records.Parser.parse

    def dies(self, record, line):
        if line == 20:
            os._exit(3)  # as if killed: no exception, no result
        return real(self, record, line)

    monkeypatch.setattr(records.Parser, "parse", dies)
    path = tmp_path / "tp.csv"
    path.write_text("\n".join([HEADER, *rows(40)]) + "\n")
    with pytest.raises(CommandError, match=r"reader process stopped \(exit status 3\).*Nothing"):
        run("touchpoints", path)
    assert not Touchpoint.objects.exists() and not Customer.objects.exists()


def test_an_error_in_the_reader_reaches_the_writer(org, tmp_path, monkeypatch):
    def fails(self, record, line):
        raise LookupError(f"broken at line {line}")

    monkeypatch.setattr(records.Parser, "parse", fails)
    path = tmp_path / "tp.csv"
    path.write_text("\n".join([HEADER, *rows(10)]) + "\n")
    with pytest.raises(LookupError, match="broken at line 2"):
        run("touchpoints", path)
    assert not Touchpoint.objects.exists()


def test_undecodable_text_late_in_the_file(org, tmp_path, monkeypatch):
    # after the first MB, which the encoding check reads before the import starts
    monkeypatch.setattr("rapport.customers.ingest.batches", ingestion.batches)
    path = tmp_path / "tp.csv"
    head = ("\n".join([HEADER, *rows(20_000)]) + "\n").encode()
    assert len(head) > 1 << 20
    path.write_bytes(head + b"t9999,c1,\xff\xfe\xfa,2024-05-01T10:00:00,purchase,branch,taipei,,\n")
    with pytest.raises(CommandError, match="undecodable text.*Nothing was written"):
        run("touchpoints", path)
    assert not Touchpoint.objects.exists()


def test_small_files_stay_in_process(org, tmp_path, monkeypatch, parallel):
    command = __import__("rapport.core.management.commands.import", fromlist=["x"])
    monkeypatch.setattr(command, "PARALLEL_BYTES", 10_000_000)
    path = tmp_path / "tp.csv"
    path.write_text("\n".join([HEADER, *rows(10)]) + "\n")
    out, _err = run("touchpoints", path)
    assert "10 created" in out and not parallel
