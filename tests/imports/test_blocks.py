"""A big touchpoint CSV's plain rows are checked a column at a time (rapport.touchpoints.columnar)
and its secondary indexes built after the insert (rapport.core.bulkload). Both must end exactly
where the record-by-record path ends: the same rows, the same customers, the same messages."""

import io
import sqlite3

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from rapport.core import bulkload, fileio, ingestion
from rapport.core.fileio import Schema, open_records
from rapport.customers.models import Customer, CustomerIdentity, IdentityReview
from rapport.org.models import Staff
from rapport.touchpoints import records
from rapport.touchpoints.models import Touchpoint

pytestmark = pytest.mark.skipif(not ingestion.can_fork(), reason="needs fork and 2 CPUs")
COMMAND = __import__("rapport.core.management.commands.import", fromlist=["x"])
HEADER = [
    "external_id", "customer_external_id", "customer_email", "occurred_at", "kind", "channel",
    "unit", "staff", "amount", "margin", "currency", "context.visit_type",
]  # fmt: skip
PLAIN = {
    "customer_external_id": ["c1", "c2", "c3"],
    "customer_email": [""],
    "occurred_at": [
        "2024-05-01T10:00:00+08:00", "2023-12-31T23:59:59Z", "2025-01-02T03:04:05-05:30",
    ],
    "kind": ["purchase", "service_visit"],
    "channel": ["", "branch", "web"],
    "unit": ["", "taipei", "kaohsiung"],
    "staff": ["", "s1"],
    "amount": ["", "12", "12.5", "0.99", "-0", "123456789012.34"],
    "margin": [""],
    "currency": ["TWD"],
    "context.visit_type": ["", "regular", "雨天 walk-in"],
}  # fmt: skip
# Values the record parser accepts but a Block does not take as they are: the row goes to it.
HANDLED = {
    "customer_external_id": [" c1", "c9", "c1 "],
    "customer_email": ["c1@example.com", "New@Example.com"],
    "occurred_at": ["2024-05-01T10:00:00", "2024-05-01 10:00:00+08:00", "2024-05-01T10:00:00.25Z"],
    "kind": ["PURCHASE", " purchase"],
    "channel": ["Branch"],
    "unit": [" taipei"],
    "staff": [" s1"],
    "amount": ["007", "1,000", "+5"],
    "margin": ["3"],
    "currency": [],
    "context.visit_type": [],
}  # fmt: skip
# Values it rejects.
WRONG = {
    "customer_external_id": [""],
    "customer_email": ["not-an-email"],
    "occurred_at": [
        "2024-02-30T10:00:00+08:00", "1899-12-31T23:00:00+00:00", "2199-01-01T00:00:00+00:00",
        "soon", "", "2024-05-01T24:00:00+08:00",
    ],
    "kind": ["teleport", ""],
    "channel": ["pigeon"],
    "unit": ["atlantis", "TAIPEI"],
    "staff": ["nobody"],
    "amount": ["12.345", "abc", "1e3"],
    "margin": ["x"],
    "currency": ["", "twd", "XX", "ÄÖÜ"],
    "context.visit_type": [],
}  # fmt: skip


@pytest.fixture
def known(org):
    Staff.objects.create(code="s1", display_name="S1", unit=org["taipei"])
    return org


def value(field: str, wrong: bool) -> st.SearchStrategy[str]:
    # mostly plain values, so that rows are written and can be compared
    odd = HANDLED[field] + (WRONG[field] if wrong else [])
    return st.sampled_from(PLAIN[field] * 12 + (odd or PLAIN[field]))


def files(wrong: bool) -> st.SearchStrategy[list[dict[str, str]]]:
    row = st.fixed_dictionaries({f: value(f, wrong) for f in HEADER[1:]})
    return st.lists(row, min_size=1, max_size=40)


def write(path, rows, *, quote_at=None, crlf=False, blank_at=None, ragged_at=None, dup=False):
    lines = [",".join(HEADER)]
    for i, r in enumerate(rows):
        ext = f"t{i % 7}" if dup else f"t{i}"
        cells = [ext, *(r[f] for f in HEADER[1:])]
        if quote_at == i:
            cells[0] = f'"{cells[0]}"'
        if ragged_at == i:
            cells.append("extra")
        lines.append(",".join(cells))
        if blank_at == i:
            lines.append("   ")
    path.write_bytes(("\r\n" if crlf else "\n").join(lines).encode() + b"\n")


def outcome(path, *, blocks):
    """What importing the file leaves behind, rolled back afterwards."""
    with transaction.atomic():
        if blocks:
            COMMAND.PARALLEL_BYTES = 0
        else:
            COMMAND.PARALLEL_BYTES = 1 << 40
        out, err = io.StringIO(), io.StringIO()
        try:
            call_command("import", "touchpoints", str(path), "--source", "dms", "--no-progress",
                         stdout=out, stderr=err)  # fmt: skip
            failed = ""
        except CommandError as exc:
            failed = str(exc)
        identity = dict(CustomerIdentity.objects.values_list("customer_id", "external_id"))
        customers = sorted(
            (identity.get(c.pk, ""), c.display_name, c.email)
            for c in Customer.objects.exclude(display_name="Known")
        )
        rows = sorted(
            (identity.get(t[0], t[0]), *t[1:])
            for t in Touchpoint.objects.values_list(
                "customer_id", "external_id", "occurred_at", "channel", "kind", "unit_id",
                "staff_id", "amount", "margin", "currency", "context",
            )
        )  # fmt: skip
        reviews = IdentityReview.objects.count()
        summary = out.getvalue().split(" rows in ")[0]
        transaction.set_rollback(True)
    return summary, err.getvalue(), failed, rows, customers, reviews


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=st.booleans().flatmap(files),
    shape=st.fixed_dictionaries(
        {
            "quote_at": st.none() | st.integers(0, 40),
            "crlf": st.booleans(),
            "blank_at": st.none() | st.integers(0, 40),
            "ragged_at": st.none() | st.integers(0, 60),
            "dup": st.booleans(),
        }
    ),
)
def test_blocks_end_where_records_end(known, tmp_path, monkeypatch, rows, shape):
    monkeypatch.setattr(fileio, "BLOCK_CHARS", 300)  # several blocks per file
    monkeypatch.setattr(bulkload, "MIN_ROWS", 1)  # and the indexes built after
    saved = COMMAND.PARALLEL_BYTES
    try:
        for k in (1, 2, 3):
            customer = Customer.objects.create(display_name="Known", email=f"c{k}@example.com")
            CustomerIdentity.objects.create(
                customer=customer, source=_source(), external_id=f"c{k}"
            )
        path = tmp_path / "tp.csv"
        write(path, rows, **shape)
        by_blocks = outcome(path, blocks=True)
        by_records = outcome(path, blocks=False)
    finally:
        COMMAND.PARALLEL_BYTES = saved
        Customer.objects.all().delete()
    assert by_blocks == by_records
    event("rows written" if by_blocks[3] else "nothing written")


def _source():
    from rapport.customers.models import SourceSystem

    return SourceSystem.objects.get_or_create(code="dms", defaults={"name": "dms"})[0]


def blocks_of(path, **kwargs):
    schema = Schema(records.FIELDS, (records.CONTEXT_PREFIX,), records.REQUIRED_COLUMNS)
    source = open_records(path, schema, blocks=True, **kwargs)
    try:
        return list(source.records)
    finally:
        source.close()


def test_lines_are_counted_across_blocks_blank_lines_and_ragged_rows(tmp_path, monkeypatch):
    monkeypatch.setattr(fileio, "BLOCK_CHARS", 64)
    path = tmp_path / "tp.csv"
    body = [f"t{i},c1,2024-05-01T10:00:00+08:00,purchase" for i in range(12)]
    body[4] = ""  # line 6: blank
    body[7] = "t7,c1,2024-05-01T10:00:00+08:00,purchase,extra"  # line 9: one value too many
    path.write_text("external_id,customer_external_id,occurred_at,kind\n" + "\n".join(body))
    items = blocks_of(path)
    lines = {}
    for item in items:
        if type(item) is ingestion.Block:
            lines.update(zip(item.frame["external_id"], item.lines, strict=True))
        else:
            assert item[ingestion.LINE_KEY] == 9 and "has 5 values" in item[ingestion.ERROR_KEY]
    assert lines == {f"t{i}": i + 2 for i in range(12) if i not in (4, 7)}  # last: no newline


def test_from_the_first_quote_on_the_csv_module_reads(tmp_path, monkeypatch):
    monkeypatch.setattr(fileio, "BLOCK_CHARS", 30)  # the first stretch: the first row
    path = tmp_path / "tp.csv"
    path.write_text(
        "external_id,customer_external_id,occurred_at,kind\n"
        "t1,c1,2024-05-01T10:00:00Z,purchase\n"
        't2,"c1, the first",2024-05-01T10:00:00Z,purchase\n'
        't3,"two\nlines",2024-05-01T10:00:00Z,purchase\n'
        "t4,c1,2024-05-01T10:00:00Z,purchase\n"
    )
    items = blocks_of(path)
    assert type(items[0]) is ingestion.Block and items[0].frame["external_id"].to_list() == ["t1"]
    rest = items[1:]
    assert [r["customer_external_id"] for r in rest] == ["c1, the first", "two\nlines", "c1"]
    assert [r[ingestion.LINE_KEY] for r in rest] == [3, 4, 6]


def test_a_failed_import_keeps_the_indexes(known, tmp_path, monkeypatch):
    monkeypatch.setattr(COMMAND, "PARALLEL_BYTES", 0)
    monkeypatch.setattr(bulkload, "MIN_ROWS", 1)
    before = _indexes()
    good = [{f: PLAIN[f][0] for f in HEADER[1:]} for _ in range(30)]
    path = tmp_path / "tp.csv"
    write(path, good)
    bad = path.read_text().replace("purchase", "teleport", 1)
    (tmp_path / "bad.csv").write_text(bad)
    with pytest.raises(CommandError, match="1 rows rejected"):
        call_command("import", "touchpoints", str(tmp_path / "bad.csv"), "--no-progress",
                     stdout=io.StringIO(), stderr=io.StringIO())  # fmt: skip
    assert _indexes() == before and not Touchpoint.objects.exists()
    call_command("import", "touchpoints", str(path), "--no-progress", stdout=io.StringIO())
    assert _indexes() == before and Touchpoint.objects.count() == 30


def _indexes():
    with connection.cursor() as cursor:
        if connection.vendor != "sqlite":
            return None
        cursor.execute(
            "SELECT name, sql FROM sqlite_master WHERE tbl_name = 'touchpoints_touchpoint'"
            " AND type = 'index' ORDER BY name"
        )
        return cursor.fetchall()


def test_worth_rebuilding():
    assert bulkload.worth_rebuilding(200_000, 0)
    assert bulkload.worth_rebuilding(200_000, 200_000)
    assert not bulkload.worth_rebuilding(200_000, 200_001)  # a sort of more than it brings
    assert not bulkload.worth_rebuilding(bulkload.MIN_ROWS - 1, 0)


def test_indexes_come_back_as_they_were(tmp_path):
    con = sqlite3.connect(tmp_path / "x.sqlite3", isolation_level=None)
    con.executescript(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b INT, UNIQUE (a));"
        "CREATE INDEX t_b ON t (b DESC);"
        "CREATE INDEX t_ab ON t (a, b) WHERE b > 0;"
        "CREATE UNIQUE INDEX t_u ON t (b, a);"
    )
    before = con.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()
    cur = con.cursor()
    cur.execute("BEGIN")
    again = bulkload.drop_secondary_indexes(cur, "t")
    names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert names == {"sqlite_autoindex_t_1", "t_u"}  # unique ones stay
    cur.executemany("INSERT INTO t (a, b) VALUES (?, ?)", [(str(i), i) for i in range(100)])
    bulkload.create_indexes(cur, again)
    cur.execute("COMMIT")
    assert con.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall() == before
    assert bulkload.table_size_estimate(cur, "t") == 100
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
