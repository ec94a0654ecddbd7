"""`rapport cases fetch-mail` against a small IMAP4rev1 server on a loopback port (the outside
world, played by a test double speaking the real protocol to the stdlib imaplib client): unseen
mail is received once, marked seen only after it is stored, and the folder, login and connection
failures are reported clearly."""

from __future__ import annotations

import base64
import re
import socket
import socketserver
import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from rapport.cases import mail_actions
from rapport.cases.models import InboundEmail

REFUND = base64.b64encode("退款".encode("big5"))
MESSAGES = {
    1: b"From: lin@example.com\r\nSubject: =?big5?B?"
    + REFUND
    + b"?=\r\nMessage-ID: <i1@x>\r\n\r\nhi\r\n",
    2: b"From: bob@example.com\r\nSubject: second\r\nMessage-ID: <i2@x>\r\n\r\nhi\r\n",
}


class Mailbox:
    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.fetched: list[int] = []


def handler_for(box: Mailbox, password: str = "secret"):
    class Handler(socketserver.StreamRequestHandler):
        def send(self, line: bytes) -> None:
            self.wfile.write(line + b"\r\n")

        def handle(self) -> None:
            self.send(b"* OK test IMAP ready")
            while True:
                line = self.rfile.readline()
                if not line:
                    return
                tag, _sp, rest = line.strip().partition(b" ")
                command = rest.upper()
                if command.startswith(b"CAPABILITY"):
                    self.send(b"* CAPABILITY IMAP4rev1")
                    self.send(tag + b" OK done")
                elif command.startswith(b"LOGIN"):
                    ok = rest.split()[-1].strip(b'"') == password.encode()
                    self.send(tag + (b" OK logged in" if ok else b" NO bad credentials"))
                elif command.startswith(b"SELECT"):
                    if b"INBOX" in rest:
                        self.send(f"* {len(MESSAGES)} EXISTS".encode())
                        self.send(tag + b" OK [READ-WRITE] selected")
                    else:
                        self.send(tag + b" NO no such folder")
                elif command.startswith(b"UID SEARCH"):
                    unseen = [str(u) for u in MESSAGES if u not in box.seen]
                    self.send(b"* SEARCH " + " ".join(unseen).encode())
                    self.send(tag + b" OK searched")
                elif command.startswith(b"UID FETCH"):
                    uid = int(rest.split()[2])
                    body = MESSAGES[uid]
                    box.fetched.append(uid)
                    self.wfile.write(
                        f"* {uid} FETCH (UID {uid} BODY[] {{{len(body)}}}\r\n".encode()
                        + body
                        + b")\r\n"
                    )
                    self.send(tag + b" OK fetched")
                elif command.startswith(b"UID STORE"):
                    box.seen.add(int(re.findall(rb"\d+", rest)[0]))
                    self.send(tag + b" OK stored")
                elif command.startswith(b"LOGOUT"):
                    self.send(b"* BYE")
                    self.send(tag + b" OK bye")
                    return
                else:
                    self.send(tag + b" BAD unknown")

    return Handler


@pytest.fixture
def imap(monkeypatch):
    box = Mailbox()
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler_for(box))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("RAPPORT_IMAP_HOST", "127.0.0.1")
    monkeypatch.setenv("RAPPORT_IMAP_PORT", str(server.server_address[1]))
    monkeypatch.setenv("RAPPORT_IMAP_SSL", "0")
    monkeypatch.setenv("RAPPORT_IMAP_USER", "cases")
    monkeypatch.setenv("RAPPORT_IMAP_PASSWORD", "secret")
    yield box
    server.shutdown()
    server.server_close()


def test_fetch_receives_unseen_once_and_marks_seen(imap, org, users, capsys):
    call_command("cases", "fetch-mail")
    assert "received 2" in capsys.readouterr().out
    assert imap.seen == {1, 2}
    subjects = set(InboundEmail.objects.values_list("subject", flat=True))
    assert subjects == {"退款", "second"}
    assert set(InboundEmail.objects.values_list("source", flat=True)) == {"imap"}
    call_command("cases", "fetch-mail")
    assert "received 0" in capsys.readouterr().out
    assert InboundEmail.objects.count() == 2


def test_seen_flag_lost_after_a_crash_stores_once(imap, org, users):
    mail_actions.fetch_imap(mail_actions.imap_config())
    imap.seen.clear()  # as if the worker died before marking them seen
    report = mail_actions.fetch_imap(mail_actions.imap_config())
    assert (report.received, report.duplicates) == (0, 2)
    assert InboundEmail.objects.count() == 2


def test_bad_login_and_folder(imap, db, monkeypatch):
    monkeypatch.setenv("RAPPORT_IMAP_PASSWORD", "wrong")
    with pytest.raises(CommandError, match="IMAP login failed"):
        call_command("cases", "fetch-mail")
    monkeypatch.setenv("RAPPORT_IMAP_PASSWORD", "secret")
    monkeypatch.setenv("RAPPORT_IMAP_FOLDER", "Nope")
    with pytest.raises(CommandError, match="No IMAP folder"):
        call_command("cases", "fetch-mail")


def test_scheduled_job_polls_only_when_configured(imap, org, users, monkeypatch):
    import threading as th

    from rapport.cases import tasks

    tasks.fetch_mail(th.Event())
    assert InboundEmail.objects.count() == 2
    monkeypatch.delenv("RAPPORT_IMAP_HOST")
    imap.seen.clear()
    tasks.fetch_mail(th.Event())  # no server configured: nothing happens
    assert imap.fetched == [1, 2]
    assert socket.gethostname()
