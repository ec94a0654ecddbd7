"""Email intake end to end (rapport.cases.mail_actions): threading replies into their case,
new mail opening a case through `email.received`, unknown senders, duplicates, and mail that
is huge or broken — stored safely, flagged, never a crash. Through every entry point: the
`rapport cases receive-mail` command (stdin, mbox, maildir), the API and the pages."""

from __future__ import annotations

import io
import mailbox
import sys
from email.message import EmailMessage

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from rapport.cases import actions, mail_actions, messages, states
from rapport.cases.actions import lifecycle
from rapport.cases.models import Case, CaseMessage, CaseSettings, InboundEmail
from rapport.core import events
from rapport.customers.models import Customer
from rapport.integrations.models import ApiKey

from .conftest import MONDAY, agent


def mail(
    sender: str = "lin@example.com",
    subject: str = "My car is still not fixed",
    body: str = "The noise is back. 煞車還是有異音。",
    msgid: str = "<new-1@example.com>",
    **headers: str,
) -> bytes:
    msg = EmailMessage()
    if sender:
        msg["From"] = sender
    msg["To"] = "cases@acme.test"
    msg["Subject"] = subject
    msg["Message-ID"] = msgid
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg.as_bytes()


def sent_message(case: Case) -> CaseMessage:
    """The case's acknowledgement, sent (so it has the Message-ID a reply answers)."""
    out = case.messages.filter(direction="out").first()
    assert messages.deliver(out.pk)
    out.refresh_from_db()
    assert out.message_id.endswith("@rapport.case>")
    return out


@pytest.fixture
def recorded(monkeypatch):
    seen: list[dict] = []

    def record(event_type, payloads):
        seen.extend(payloads)

    monkeypatch.setitem(
        events._handlers, "email.received", [*events._handlers["email.received"], record]
    )
    return seen


def test_reply_threads_into_its_case_by_in_reply_to(customer, open_case, recorded):
    case = open_case(customer)
    out = sent_message(case)
    lifecycle.acknowledge(case.pk, None, actions.SYSTEM, now=MONDAY)
    case = lifecycle.transition(case.pk, None, states.AWAITING_CUSTOMER, actions.SYSTEM, now=MONDAY)
    raw = mail(
        subject="Re: " + out.subject,
        body="Yes, Tuesday works.\n\nOn Mon, 3 Mar 2025, Acme wrote:\n> old text",
        msgid="<reply-1@example.com>",
        In_Reply_To=out.message_id,
        References=out.message_id,
    )
    row, duplicate = mail_actions.receive(raw, "stdin")
    assert not duplicate
    assert row.status == InboundEmail.Status.THREADED and row.case_id == case.pk
    incoming = case.messages.get(direction="in")
    assert incoming.body == "Yes, Tuesday works."  # the quoted earlier message is cut
    assert incoming.status == "received" and incoming.message_id == "<reply-1@example.com>"
    case.refresh_from_db()
    assert case.state == states.IN_PROGRESS  # the customer answered: the clock runs again
    assert case.paused_at is None
    assert case.events.filter(kind="message", new="received").exists()
    assert recorded == []  # a reply is not new mail
    # a reply to that reply still threads (via our stored inbound Message-ID)
    again, _dup = mail_actions.receive(
        mail(subject="Re: Re", msgid="<reply-2@example.com>", In_Reply_To="<reply-1@example.com>"),
        "stdin",
    )
    assert again.case_id == case.pk and again.status == InboundEmail.Status.THREADED


def test_subject_reference_threads_only_for_the_case_customer(customer, khh_customer, open_case):
    case = open_case(customer)
    mine, _ = mail_actions.receive(mail(subject=f"About {case.ref}", msgid="<a@x>"), "stdin")
    assert mine.case_id == case.pk and mine.status == InboundEmail.Status.THREADED
    stranger, _ = mail_actions.receive(
        mail(sender="bob@example.com", subject=f"About {case.ref}", msgid="<b@x>"), "stdin"
    )
    assert stranger.case_id != case.pk
    assert stranger.customer_id == khh_customer.pk


def test_plus_address_threads(customer, open_case):
    case = open_case(customer)
    config = CaseSettings.current()
    config.inbox_address = "cases@acme.test"
    config.save()
    row, _ = mail_actions.receive(
        mail(subject="no ref here", msgid="<p@x>", Cc=f"cases+{case.pk}@acme.test"), "stdin"
    )
    assert row.case_id == case.pk and row.status == InboundEmail.Status.THREADED


def test_new_mail_opens_an_email_case_and_emits_the_event(customer, users, recorded):
    row, _ = mail_actions.receive(mail(), "stdin")
    assert row.status == InboundEmail.Status.OPENED
    case = Case.objects.get(pk=row.case_id)
    assert case.source == Case.Source.EMAIL and case.customer_id == customer.pk
    assert case.unit.code == "taipei"  # the customer's home unit
    assert case.messages.filter(direction="in", subject="My car is still not fixed").exists()
    assert recorded == [
        {
            "inbound_id": row.pk,
            "customer_id": customer.pk,
            "from": "lin@example.com",
            "subject": "My car is still not fixed",
            "text": "The noise is back. 煞車還是有異音。",
            "language": "zh-hant",
            "received_at": recorded[0]["received_at"],
            "reply_to_case_id": None,
        }
    ]


def test_new_mail_attaches_to_the_open_case_of_the_customer(customer, open_case, users):
    case = open_case(customer)  # opened by a rule on the default topic
    row, _ = mail_actions.receive(mail(subject="Another thing", msgid="<other@x>"), "stdin")
    assert row.case_id == case.pk and row.status == InboundEmail.Status.OPENED
    case.refresh_from_db()
    assert case.signal_count == 2
    assert Case.objects.filter(customer=customer).count() == 1


def test_setting_off_stores_without_case_but_still_emits(customer, users, recorded):
    config = CaseSettings.current()
    config.new_mail_opens_case = False
    config.save()
    row, _ = mail_actions.receive(mail(), "stdin")
    assert row.status == InboundEmail.Status.STORED and row.case_id is None
    assert row.customer_id == customer.pk
    assert len(recorded) == 1 and not Case.objects.exists()


def test_unknown_sender_becomes_a_customer_or_stays_unmatched(users, org, recorded):
    row, _ = mail_actions.receive(
        mail(sender="王小明 <Wang@Example.org>", body="服務很差", msgid="<w@x>"), "stdin"
    )
    created = Customer.objects.get(email="wang@example.org")
    assert created.display_name == "王小明" and created.preferred_language == "zh-hant"
    assert row.customer_id == created.pk and row.status == InboundEmail.Status.OPENED
    config = CaseSettings.current()
    config.unknown_sender_creates_customer = False
    config.save()
    row, _ = mail_actions.receive(mail(sender="nobody@example.net", msgid="<n@x>"), "stdin")
    assert row.status == InboundEmail.Status.UNMATCHED and row.flagged
    assert "sender_unknown" in row.problems
    assert not Customer.objects.filter(email="nobody@example.net").exists()
    assert recorded[-1]["customer_id"] is None  # [voice] may still listen


def test_ambiguous_sender_is_not_guessed(org, users):
    Customer.objects.create(display_name="A", email="shared@example.com")
    Customer.objects.create(display_name="B", email="shared@example.com")
    row, _ = mail_actions.receive(mail(sender="shared@example.com"), "stdin")
    assert row.status == InboundEmail.Status.UNMATCHED and "sender_ambiguous" in row.problems


def test_reply_to_a_closed_case_counts_as_new_mail(customer, open_case, users):
    case = open_case(customer)
    out = sent_message(case)
    Case.objects.filter(pk=case.pk).update(state=states.CLOSED)
    row, _ = mail_actions.receive(mail(In_Reply_To=out.message_id, msgid="<late@x>"), "stdin")
    assert row.status == InboundEmail.Status.OPENED and row.case_id != case.pk


def test_same_mail_twice_is_stored_once(customer, users):
    raw = mail()
    first, dup1 = mail_actions.receive(raw, "imap")
    second, dup2 = mail_actions.receive(raw, "imap")
    assert (dup1, dup2) == (False, True) and first.pk == second.pk
    assert InboundEmail.objects.count() == 1


def test_huge_mail_is_stored_capped_and_flagged(customer, users):
    raw = mail(body="x") + b"A" * (30 * 1024 * 1024)
    row, _ = mail_actions.receive(raw, "stdin")
    row.refresh_from_db()
    assert row.size == len(raw) and row.raw_truncated
    assert len(bytes(row.raw)) == mail_actions.RAW_KEEP_BYTES
    assert {"too_large", "raw_truncated"} <= set(row.problems) and row.flagged
    assert row.subject == "My car is still not fixed"  # the headers were still read
    assert row.customer_id == customer.pk


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"\x00\x01\xff\xfe\x89PNG\r\n" * 5000, "no_headers"),
        (b"Subject: who am I\n\nno sender", "missing_from"),
        (
            b'From: lin@example.com\nContent-Type: multipart/mixed; boundary="Z"\n\n--Z\n'
            b"Content-Type: text/plain\n\ncut he",
            "mime:CloseBoundaryNotFoundDefect",
        ),
        (b"From: =?utf-8?B?!!!?= <\nSubject: =?gbk?Q?=B7=FE?=\n\nbody", "bad_from"),
    ],
)
def test_malformed_mail_is_kept_and_flagged(raw, problem, customer, users):
    row, _ = mail_actions.receive(raw, "stdin")
    assert row.pk and row.flagged and problem in row.problems
    assert bytes(row.raw) == raw


def test_a_routing_bug_keeps_the_mail(customer, monkeypatch):
    def broken(_ids):
        raise RuntimeError("boom")

    monkeypatch.setattr(mail_actions, "thread_case", broken)
    row, _ = mail_actions.receive(mail(), "stdin")
    row.refresh_from_db()
    assert row.status == InboundEmail.Status.FAILED and row.flagged
    assert "routing_failed:RuntimeError" in row.problems


def test_attachments_stored_or_listed(customer, users):
    msg = EmailMessage()
    msg["From"] = "lin@example.com"
    msg["Subject"] = "photos"
    msg.set_content("see attached")
    msg.add_attachment(b"\x89PNG small", maintype="image", subtype="png", filename="刮痕.png")
    big = b"0" * (mail_actions.ATTACHMENT_MAX_BYTES + 1)
    msg.add_attachment(big, maintype="video", subtype="mp4", filename="noise.mp4")
    row, _ = mail_actions.receive(msg.as_bytes(), "stdin")
    files = {a.filename: a for a in row.attachments.all()}
    assert files["刮痕.png"].stored and bytes(files["刮痕.png"].data) == b"\x89PNG small"
    assert not files["noise.mp4"].stored and files["noise.mp4"].data is None
    assert files["noise.mp4"].size == len(big)


# --- entry points ---------------------------------------------------------------------------


def test_command_reads_stdin(customer, users, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(mail())))
    call_command("cases", "receive-mail")
    assert "received 1" in capsys.readouterr().out
    assert InboundEmail.objects.get().source == "stdin"


def test_command_reads_mbox_and_maildir(customer, users, tmp_path, capsys):
    box = mailbox.mbox(tmp_path / "in.mbox")
    box.add(mail(msgid="<m1@x>"))
    box.add(mail(msgid="<m2@x>", subject="second"))
    box.add(b"garbage without headers\x00\xff")
    box.close()
    call_command("cases", "receive-mail", "--mbox", str(tmp_path / "in.mbox"))
    assert "received 3" in capsys.readouterr().out
    folder = mailbox.Maildir(tmp_path / "md")
    folder.add(mail(msgid="<m3@x>"))
    folder.close()
    call_command("cases", "receive-mail", "--maildir", str(tmp_path / "md"))
    assert "received 1" in capsys.readouterr().out
    assert set(InboundEmail.objects.values_list("source", flat=True)) == {"mbox", "maildir"}
    with pytest.raises(CommandError, match="not a maildir"):
        call_command("cases", "receive-mail", "--maildir", str(tmp_path / "nothing"))
    with pytest.raises(CommandError, match="No such mbox"):
        call_command("cases", "receive-mail", "--mbox", str(tmp_path / "none.mbox"))


def test_fetch_mail_needs_a_server(db, monkeypatch):
    monkeypatch.delenv("RAPPORT_IMAP_HOST", raising=False)
    with pytest.raises(CommandError, match="No IMAP server"):
        call_command("cases", "fetch-mail")
    monkeypatch.setenv("RAPPORT_IMAP_HOST", "127.0.0.1")
    monkeypatch.setenv("RAPPORT_IMAP_PORT", "1")  # nothing listens there
    monkeypatch.setenv("RAPPORT_IMAP_SSL", "0")
    cfg = mail_actions.imap_config()
    assert (cfg.host, cfg.port, cfg.ssl, cfg.folder) == ("127.0.0.1", 1, False, "INBOX")
    with pytest.raises(CommandError, match="Cannot reach the IMAP server"):
        call_command("cases", "fetch-mail")


def test_api_takes_raw_mime(client, customer, users):
    _key, raw_key = ApiKey.issue("mailgw", ["cases:write"])
    url = "/api/v1/cases/inbound-email"
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw_key}"}
    response = client.post(url, mail(), content_type="message/rfc822", **headers)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "opened" and body["case_ref"].startswith("C-")
    assert body["customer_id"] == customer.pk and not body["duplicate"]
    again = client.post(url, mail(), content_type="message/rfc822", **headers)
    assert again.status_code == 200 and again.json()["duplicate"]
    broken = client.post(url, b"\x00\xff junk", content_type="message/rfc822", **headers)
    assert broken.status_code == 201 and broken.json()["flagged"]
    empty = client.post(url, b"", content_type="message/rfc822", **headers)
    assert empty.status_code == 422
    _k, read_only = ApiKey.issue("reader", ["cases:read"])
    denied = client.post(
        url, mail(), content_type="message/rfc822", HTTP_AUTHORIZATION=f"Bearer {read_only}"
    )
    assert denied.status_code == 403


def test_mail_pages_are_scoped(client, customer, khh_customer, users):
    mine, _ = mail_actions.receive(mail(), "stdin")
    theirs, _ = mail_actions.receive(mail(sender="bob@example.com", msgid="<k@x>"), "stdin")
    orphan, _ = mail_actions.receive(b"Subject: x\n\nno sender", "stdin")
    client.force_login(users["taipei_agent"])
    page = client.get(reverse("cases:mail"))
    assert page.status_code == 200
    assert mine.subject.encode() in page.content
    assert client.get(reverse("cases:mail_detail", args=[mine.pk])).status_code == 200
    assert client.get(reverse("cases:mail_detail", args=[theirs.pk])).status_code == 404
    assert client.get(reverse("cases:mail_detail", args=[orphan.pk])).status_code == 404
    client.force_login(users["cx"])
    flagged = client.get(reverse("cases:mail"), {"show": "flagged"})
    assert f'href="{reverse("cases:mail_detail", args=[orphan.pk])}"'.encode() in flagged.content
    detail = client.get(reverse("cases:mail_detail", args=[orphan.pk]))
    assert b"missing_from" in detail.content


def test_attachment_download_is_scoped(client, customer, khh_customer, users):
    msg = EmailMessage()
    msg["From"] = "bob@example.com"
    msg["Subject"] = "file"
    msg.set_content("x")
    msg.add_attachment(b"%PDF", maintype="application", subtype="pdf", filename="合約.pdf")
    row, _ = mail_actions.receive(msg.as_bytes(), "stdin")
    item = row.attachments.get()
    url = reverse("cases:mail_attachment", args=[row.pk, item.pk])
    client.force_login(users["taipei_agent"])
    assert client.get(url).status_code == 404
    client.force_login(users["khh_agent"])
    got = client.get(url)
    assert got.status_code == 200 and got.content == b"%PDF"
    assert "UTF-8''%E5%90%88%E7%B4%84.pdf" in got["Content-Disposition"]
    assert agent(users, "khh_agent").staff.unit.code == "kaohsiung"
