"""Distribution fixtures: a real SMTP server (aiosmtpd) on a free loopback port, the email
backend pointed at it, a published survey, and a contact policy without quiet hours (tests about
quiet hours set their own, with the clock passed in)."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import socket
from email.message import Message

import pytest
from aiosmtpd.controller import Controller

from rapport.customers.models import Customer
from rapport.surveys.models import ContactPolicy


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mailbox:
    """What the SMTP server received, parsed."""

    def __init__(self) -> None:
        self.raw: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 — aiosmtpd's hook name
        self.raw.append(envelope.original_content or envelope.content)
        return "250 OK"

    @property
    def messages(self) -> list[Message]:
        return [email.message_from_bytes(raw, policy=email.policy.default) for raw in self.raw]


class SmtpServer:
    def __init__(self, port: int) -> None:
        self.port = port
        self.mailbox = Mailbox()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp(settings):
    """A running SMTP server; .stop() and .start() simulate an outage on the same port."""
    server = SmtpServer(free_port())
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = server.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_TIMEOUT = 5
    settings.SITE_URL = "http://testserver"
    server.start()
    yield server
    server.stop()


@pytest.fixture
def policy(db):
    row = ContactPolicy.current()
    row.quiet_start = row.quiet_end = dt.time(0, 0)  # no quiet hours
    row.quarantine_days = 30
    row.max_attempts = 4
    row.save()
    return row


@pytest.fixture
def nps(make_survey):
    return make_survey("nps", "Service NPS")


@pytest.fixture
def reachable(org):
    """make(name, email=..., language=...) -> Customer with an address."""

    def make(name: str = "Lin Mei", **kwargs) -> Customer:
        kwargs.setdefault("email", f"{name.lower().replace(' ', '.')}@example.com")
        kwargs.setdefault("home_unit", org["taipei"])
        return Customer.objects.create(display_name=name, **kwargs)

    return make


def body_text(message: Message, subtype: str = "plain") -> str:
    for part in message.walk():
        if part.get_content_type() == f"text/{subtype}":
            return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
    raise AssertionError(f"no text/{subtype} part")
