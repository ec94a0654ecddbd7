"""Parsing inbound email (rapport.cases.inbound): real MIME built with the stdlib, Chinese
encodings labelled right, wrong and not at all, HTML-only mail, attachments, broken input."""

from __future__ import annotations

from email.header import Header
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import pytest

from rapport.cases import inbound


def _mail(body: str, charset: str, subject: str = "", subject_charset: str = "utf-8") -> bytes:
    msg = MIMEText(body, "plain", charset)
    msg["From"] = "Lin Mei <Lin@Example.com>"
    msg["To"] = "cases@acme.test"
    msg["Subject"] = Header(subject or "hello", subject_charset).encode()
    msg["Message-ID"] = "<m1@example.com>"
    return msg.as_bytes()


@pytest.mark.parametrize(
    ("text", "charset"),
    [
        ("您好，我的车还没修好，请尽快处理。", "gb2312"),
        ("您好，我的车还没修好，请尽快处理。", "gbk"),
        ("您好，我的車還沒修好，請盡快處理。", "big5"),
        ("您好，我的车还没修好，请尽快处理。𠀀", "gb18030"),
        ("您好，我的車還沒修好，請盡快處理。", "utf-8"),
    ],
)
def test_chinese_charsets_declared_in_body_and_encoded_words(text, charset):
    parsed = inbound.parse(_mail(text, charset, subject=text[:6], subject_charset=charset))
    assert parsed.text == text
    assert parsed.subject == text[:6]
    assert parsed.from_address == "lin@example.com"  # normalised
    assert parsed.from_name == "Lin Mei"
    assert parsed.message_id == "<m1@example.com>"
    assert parsed.problems == []


@pytest.mark.parametrize("cte", ["quoted-printable", "base64"])
def test_transfer_encodings(cte):
    msg = MIMEText("", "plain", "utf-8")
    msg.replace_header("Content-Transfer-Encoding", cte)
    body = "退款申請：服務很差。"
    payload = body.encode()
    if cte == "base64":
        import base64

        msg.set_payload(base64.encodebytes(payload).decode())
    else:
        import quopri

        msg.set_payload(quopri.encodestring(payload).decode())
    msg["From"] = "a@b.com"
    assert inbound.parse(msg.as_bytes()).text == body


def test_big5_mislabelled_as_latin1_and_raw_8bit_subject():
    text = "我要求退款，服務很差，車子還是有問題。請盡快處理。"
    raw = (
        b"From: a@b.com\nSubject: "
        + "退款申請".encode("big5")
        + b"\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit\n\n"
        + text.encode("big5")
    )
    parsed = inbound.parse(raw)
    assert parsed.subject == "退款申請"
    assert parsed.text == text
    assert parsed.charset == "big5hkscs"
    assert "body:charset_guessed" in parsed.problems


def test_gbk_labelled_utf8_and_unlabelled_gbk():
    text = "我要求退款，服务很差，车子还是有问题。请尽快处理。"
    for label in (b"; charset=utf-8", b""):
        raw = (
            b"From: a@b.com\nSubject: x\nContent-Type: text/plain"
            + label
            + b"\nContent-Transfer-Encoding: 8bit\n\n"
            + text.encode("gbk")
        )
        parsed = inbound.parse(raw)
        assert parsed.text == text, label
        assert parsed.charset == "gb18030"


def test_encoded_word_with_wrong_charset_is_recovered():
    wrong = "=?utf-8?B?" + __import__("base64").b64encode("維修".encode("big5")).decode() + "?="
    parsed = inbound.parse(f"From: a@b.com\nSubject: {wrong}\n\nhi".encode())
    assert parsed.subject == "維修"
    assert "header:charset_guessed" in parsed.problems


def test_unknown_charset_label_does_not_crash():
    raw = b"From: a@b.com\nContent-Type: text/plain; charset=x-no-such\n\n" + "好".encode()
    assert inbound.parse(raw).text == "好"


def test_html_only_mail_becomes_text():
    html = (
        "<html><head><style>p{color:red}</style><script>alert(1)</script></head><body>"
        "<p>您好&nbsp;<b>Lin</b></p><ul><li>one</li><li>two</li></ul>"
        "<a href='https://acme.test/x'>link</a></body></html>"
    )
    msg = MIMEText(html, "html", "utf-8")
    msg["From"] = "a@b.com"
    parsed = inbound.parse(msg.as_bytes())
    assert parsed.html_only
    assert "您好 Lin" in parsed.text
    assert "- one\n" in parsed.text and "- two" in parsed.text
    assert "link (https://acme.test/x)" in parsed.text
    assert "alert" not in parsed.text and "color" not in parsed.text


def test_alternative_prefers_plain_and_attachments_are_kept():
    msg = MIMEMultipart("mixed")
    msg["From"] = "a@b.com"
    msg["Subject"] = "photos"
    alt = MIMEMultipart("alternative")
    alt.attach(MIMEText("plain body", "plain", "utf-8"))
    alt.attach(MIMEText("<p>html body</p>", "html", "utf-8"))
    msg.attach(alt)
    pdf = MIMEApplication(b"%PDF-1.4 data", "pdf")
    pdf.add_header("Content-Disposition", "attachment", filename=("utf-8", "", "合同.pdf"))
    msg.attach(pdf)
    parsed = inbound.parse(msg.as_bytes())
    assert parsed.text == "plain body"
    assert not parsed.html_only
    assert [(a.filename, a.content_type, a.data) for a in parsed.attachments] == [
        ("合同.pdf", "application/pdf", b"%PDF-1.4 data")
    ]


def test_truncated_multipart_keeps_what_is_there_and_says_so():
    raw = (
        b'From: x@y.com\nSubject: t\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="B"'
        b"\n\n--B\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
        b"5L2g5aW9\n--B\nContent-Type: application/pdf\nContent-Disposition: attachment; "
        b'filename="=?UTF-8?B?5ZCI5ZCMLnBkZg==?="\nContent-Transfer-Encoding: base64\n\nJVBERi0x'
    )
    parsed = inbound.parse(raw)
    assert parsed.text == "你好"
    assert parsed.attachments[0].filename == "合同.pdf"
    assert "mime:CloseBoundaryNotFoundDefect" in parsed.problems


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"\x00\xff\xfe\x89PNG garbage" * 200, "no_headers"),
        (b"", "empty"),
        (b"Subject: no sender\n\nbody", "missing_from"),
        (b"From: not an address\nSubject: x\n\nbody", "bad_from"),
        (b"From: a@b.com\nDate: yesterday-ish\nSubject: =?x?Q?=ZZ?=\n\nbody", "header:bad_date"),
    ],
)
def test_broken_input_never_raises_and_is_named(raw, problem):
    parsed = inbound.parse(raw)
    assert problem in parsed.problems


def test_oversized_mail_reads_headers_only():
    raw = b"From: a@b.com\nSubject: big one\nMessage-ID: <big@x>\n\n" + b"A" * 3000
    parsed = inbound.parse(raw, max_bytes=1000)
    assert parsed.too_large and "too_large" in parsed.problems
    assert parsed.subject == "big one" and parsed.message_id == "<big@x>"
    assert parsed.text == ""


def test_thread_ids_nearest_first():
    raw = b"From: a@b.com\nIn-Reply-To: <c@x>\nReferences: <a@x> <b@x>\n <c@x>\nSubject: Re\n\nok"
    assert inbound.parse(raw).thread_ids == ["<c@x>", "<b@x>", "<a@x>"]


def test_case_ids_from_subject_and_plus_address():
    assert inbound.case_ids("Re: received (C-000123)") == [123]
    assert inbound.case_ids("Re: [#77] car") == [77]
    assert inbound.case_ids("x", ["cases+C-000044@acme.test"], "cases@acme.test") == [44]
    assert inbound.case_ids("x", ["cases+44@acme.test"], "cases@acme.test") == [44]
    # another mailbox's plus address is not ours
    assert inbound.case_ids("x", ["sales+44@acme.test"], "cases@acme.test") == []
    assert inbound.case_ids("invoice 2024-C-12 CC-5") == []


def test_strip_quoted_reply_in_english_and_chinese():
    assert inbound.strip_quoted("Fine now.\n\nOn Mon, 3 Mar 2025, Acme <a@b> wrote:\n> old") == (
        "Fine now."
    )
    assert inbound.strip_quoted("好的，謝謝\n\n2025年3月3日 於 上午10:00 Acme 寫道：\n> 舊") == (
        "好的，謝謝"
    )
    assert inbound.strip_quoted("> only quoted") == "> only quoted"


def test_language_hint():
    assert inbound.language_hint("gb18030", "") == "zh-hans"
    assert inbound.language_hint("big5hkscs", "") == "zh-hant"
    assert inbound.language_hint("utf-8", "我的車") == "zh-hant"
    assert inbound.language_hint("utf-8", "my car") == "en"
