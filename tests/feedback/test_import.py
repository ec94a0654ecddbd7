"""`rapport import feedback FILE`: CSV with a column mapping, NDJSON, .eml and .mbox (GBK, Big5,
UTF-8, broken headers), clear errors, and idempotent re-runs."""

from __future__ import annotations

import base64

import pytest
from django.core.management import CommandError, call_command

from rapport.feedback.models import FeedbackItem

pytestmark = pytest.mark.django_db


def run(path, *args):  # type: ignore[no-untyped-def]
    call_command("import", "feedback", str(path), "--no-progress", *args)


def test_csv_with_a_column_mapping(tmp_path, lin):
    f = tmp_path / "appstore.csv"
    f.write_text(
        "Review ID,Stars,Review,Date,Reviewer\n"
        "a1,1,App crashes every time I book a service. Useless.,2026-11-01,lin@example.com\n"
        'a2,5,"很好用,預約很方便",2026-11-02 10:00,Guest\n',
        encoding="utf-8",
    )
    maps = ["--map", "Review ID=external_id", "--map", "Stars=rating", "--map", "Review=text"]
    maps += ["--map", "Date=received_at", "--map", "Reviewer=author_contact"]
    run(f, "--source", "appstore", *maps)
    rows = {r.external_id: r for r in FeedbackItem.objects.all()}
    assert set(rows) == {"a1", "a2"}
    assert rows["a1"].rating == 1 and rows["a1"].customer_id == lin.pk
    assert rows["a1"].channel == "import" and rows["a1"].source == "appstore"
    assert rows["a2"].text == "很好用,預約很方便"
    run(f, "--source", "appstore", *maps)  # again: nothing new
    assert FeedbackItem.objects.count() == 2


def test_a_mapping_naming_a_missing_column_is_a_clear_error(tmp_path, org):
    f = tmp_path / "calls.csv"
    f.write_text("note,when\nCalled about the bill,2026-11-01\n", encoding="utf-8")
    with pytest.raises(CommandError) as exc:
        run(f, "--map", "Transcript=text")
    message = str(exc.value)
    assert "calls.csv" in message and "Transcript" in message
    assert not FeedbackItem.objects.exists()


def test_a_bad_row_names_its_line_and_field_and_nothing_is_written(tmp_path, org):
    f = tmp_path / "chat.csv"
    f.write_text(
        "text,channel,received_at\nhello,chat,2026-11-01\nhi,carrier-pigeon,2026-11-01\n",
        encoding="utf-8",
    )
    with pytest.raises(CommandError):
        run(f)
    assert not FeedbackItem.objects.exists()


def _mail(subject_header: bytes, body: bytes, charset: str, msgid: str = "") -> bytes:
    head = b"From: Lin <lin@example.com>\r\nTo: care@acme.test\r\n"
    if msgid:
        head += f"Message-ID: <{msgid}>\r\n".encode()
    head += b"Date: Mon, 02 Nov 2026 10:00:00 +0800\r\n"
    head += b"Subject: " + subject_header + b"\r\n"
    head += f"Content-Type: text/plain; charset={charset}\r\n".encode()
    head += b"Content-Transfer-Encoding: 8bit\r\n\r\n"
    return head + body


def test_eml_in_gbk(tmp_path, lin):
    subject = b"=?gbk?b?" + base64.b64encode("保养太贵".encode("gbk")) + b"?="
    body = "保养费用太贵了,服务也很差。".encode("gbk")
    f = tmp_path / "one.eml"
    f.write_bytes(_mail(subject, body, "gb2312", "gbk-1@example.com"))
    run(f)
    row = FeedbackItem.objects.get()
    assert row.title == "保养太贵"
    assert "保养费用太贵了" in row.text
    assert row.channel == "email" and row.customer_id == lin.pk
    assert row.external_id == "gbk-1@example.com"


def test_mbox_with_big5_utf8_and_broken_headers(tmp_path, org):
    big5 = _mail(b"=?big5?q?=AB=C8=B6=44?=", "冷氣又壞了,非常失望。".encode("big5"), "big5", "b5@x")
    utf8 = _mail("Re: 謝謝".encode(), b"Thanks, great service!", "utf-8", "u8@x")
    # raw 8-bit GBK bytes in the subject, an unknown charset label, no Message-ID
    broken = _mail(
        "坏了".encode("gbk") + b" =?x-unknown?q?abc?=",
        "等了很久,服务人员一直没有理我,真的非常失望。".encode("gbk"),
        "x-bogus",
    )
    f = tmp_path / "box.mbox"
    parts = []
    for raw in (big5, utf8, broken):
        parts.append(b"From MAILER-DAEMON Mon Nov  2 10:00:00 2026\n" + raw.replace(b"\r\n", b"\n"))
    f.write_bytes(b"\n".join(parts) + b"\n")
    run(f)
    rows = list(FeedbackItem.objects.order_by("pk"))
    assert len(rows) == 3
    assert "冷氣又壞了" in rows[0].text
    assert rows[1].text.startswith("Thanks")
    assert "等了很久" in rows[2].text
    assert rows[2].external_id.startswith("sha1:")
    run(f)  # again: nothing new, also for the mail without a Message-ID
    assert FeedbackItem.objects.count() == 3


def test_an_empty_mail_file_is_a_clear_error(tmp_path, org):
    f = tmp_path / "empty.mbox"
    f.write_bytes(b"")
    with pytest.raises(CommandError, match="empty"):
        run(f)


def test_binary_garbage_as_eml_is_stored_not_crashed(tmp_path, org):
    f = tmp_path / "junk.eml"
    f.write_bytes(bytes(range(256)) * 50)
    run(f)
    assert FeedbackItem.objects.count() == 1
