"""The weekly digest (rapport.cases.digest): its figures, the page, and the email sent through a
real SMTP server (aiosmtpd) to the staff of every unit, once per unit and week."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import socket
import threading

import pytest
from aiosmtpd.controller import Controller
from django.core.management import call_command
from django.urls import reverse

from rapport.cases import actions, digest
from rapport.cases.actions import lifecycle, promises
from rapport.cases.models import CaseSettings, DigestLog, Promise
from rapport.customers.models import Customer
from rapport.org.models import Staff

from .conftest import MONDAY, agent

H = dt.timedelta(hours=1)
WEEK = MONDAY.date()  # 2025-03-03, a Monday
NEXT_MONDAY_9 = MONDAY + dt.timedelta(days=7, hours=-1)  # 09:00 Taipei, the week after


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    def __init__(self) -> None:
        self.mail: list[tuple[list[str], bytes]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 — aiosmtpd's hook
        with self.lock:
            self.mail.append((list(envelope.rcpt_tos), envelope.original_content or b""))
        return "250 OK"

    def parsed(self):
        return [
            (to, email.message_from_bytes(raw, policy=email.policy.default))
            for to, raw in self.mail
        ]


@pytest.fixture
def smtp(settings):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_TLS, settings.EMAIL_HOST_USER, settings.EMAIL_TIMEOUT = False, "", 5
    settings.SITE_URL = "http://rapport.test"
    controller.start()
    yield inbox
    controller.stop()


@pytest.fixture
def week(org, users, open_case):
    """Staff with addresses; in Taipei one case resolved (reusable), one promise kept and one
    broken; a case still open in Kaohsiung."""
    for key in ("taipei_agent", "khh_agent", "north_mgr"):
        users[key].email = f"{users[key].username}@acme.test"
        users[key].save()
    lin = Customer.objects.create(display_name="Lin", email="lin@x.com", home_unit=org["taipei"])
    case = open_case(lin, subject="Brake noise", description="刹车有异音，很危险")
    lifecycle.acknowledge(case.pk, None, actions.SYSTEM, now=MONDAY + H)
    kept = promises.make_promise(
        case.pk, None, "call back", MONDAY + 5 * H, agent(users), now=MONDAY
    )
    promises.settle_promise(case.pk, None, kept.pk, True, agent(users), now=MONDAY + 2 * H)
    promises.make_promise(
        case.pk, None, "send the report", MONDAY + 3 * H, agent(users), now=MONDAY
    )
    promises.break_overdue_promises(now=MONDAY + 4 * H)
    lifecycle.resolve(
        case.pk, None, agent(users), cause="core_failure", sub_cause="brake pads",
        fix="Replaced the pads free of charge", reusable=True, now=MONDAY + 6 * H,
    )  # fmt: skip
    bob = Customer.objects.create(display_name="Bob", email="b@x.com", home_unit=org["kaohsiung"])
    open_case(bob, subject="Waited two hours", now=MONDAY + 30 * H)
    return case


def test_build_counts_the_week(week, org):
    d = digest.build(org["taipei"], WEEK)
    assert (d.opened, d.resolved, d.still_open) == (1, 1, 0)
    assert (d.promises_kept, d.promises_broken) == (1, 1)
    assert d.causes == [("Core service failure", 1)]
    story = d.stories[0]
    assert story["subject"] == "Brake noise" and story["fix"].startswith("Replaced")
    assert story["said"] == "刹车有异音，很危险" and story["reusable"]
    region = digest.build(org["north"], WEEK + dt.timedelta(days=3))  # any day of the week
    assert region.week_start == WEEK and region.resolved == 1
    whole = digest.build(org["ent"], WEEK)
    assert (whole.opened, whole.still_open) == (2, 1)
    assert digest.build(org["taipei"], WEEK - dt.timedelta(days=7)).empty


def test_email_through_smtp_once_per_unit_and_week(smtp, week, org, users):
    assert digest.send_due(now=MONDAY + dt.timedelta(days=7, hours=-3)) == 0  # Monday 07:00
    sent = digest.send_due(now=NEXT_MONDAY_9)
    # Taipei (agent), Kaohsiung (agent), North (manager): each unit's own staff, its own digest.
    assert sent == 3
    by_rcpt = {tuple(to): msg for to, msg in smtp.parsed()}
    taipei = by_rcpt[("tpagent@acme.test",)]
    assert "Taipei" in taipei["Subject"] and "2025-03-03" in taipei["Subject"]
    text = taipei.get_body(("plain",)).get_content()
    html = taipei.get_body(("html",)).get_content()
    assert "Brake noise" in text and "Replaced the pads free of charge" in text
    assert "刹车有异音" in text and "Brake noise" in html
    assert "http://rapport.test/cases/digest/?unit=taipei&week=2025-03-03" in text
    assert "Brake noise" in by_rcpt[("northmgr@acme.test",)].get_body(("plain",)).get_content()
    khh = by_rcpt[("khhagent@acme.test",)].get_body(("plain",)).get_content()
    assert "Brake noise" not in khh and "open now 1" in khh
    assert taipei["To"] is None  # staff addresses go in Bcc, not shown to each other
    assert digest.send_due(now=NEXT_MONDAY_9 + H) == 0  # already sent: not again
    assert len(smtp.mail) == 3
    assert DigestLog.objects.filter(week_start=WEEK, sent_at__isnull=False).count() == 3


def test_unit_with_nothing_to_say_or_setting_off(smtp, org, users):
    config = CaseSettings.current()
    config.weekly_digest = False
    config.save()
    assert digest.send_due(now=NEXT_MONDAY_9) == 0
    config.weekly_digest = True
    config.save()
    assert digest.send_due(now=NEXT_MONDAY_9) == 0  # no cases anywhere: no mail
    assert smtp.mail == []


def test_smtp_down_is_recorded(settings, week, org):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    digest.send_due(now=NEXT_MONDAY_9)
    row = DigestLog.objects.get(unit=org["taipei"], week_start=WEEK)
    assert row.sent_at is None and row.error


def test_command_dry_run_and_send(smtp, week, capsys):
    call_command("cases", "digest", "--week", "2025-03-05", "--unit", "taipei", "--dry-run")
    out = capsys.readouterr().out
    assert "Brake noise" in out and smtp.mail == []
    call_command("cases", "digest", "--week", "2025-03-05", "--unit", "taipei")
    assert "taipei: sent to 1" in capsys.readouterr().out
    assert len(smtp.mail) == 1


def test_page_with_week_and_unit(client, users, week, org):
    client.force_login(users["taipei_agent"])
    url = reverse("cases:digest")
    page = client.get(url, {"week": "2025-03-04", "unit": "taipei"})
    html = page.content.decode()
    assert page.status_code == 200 and "Brake noise" in html and "2025-03-03" in html
    assert reverse("cases:detail", args=[week.pk]) in html
    assert client.get(url, {"unit": "kaohsiung"}).status_code == 404
    assert "must be a date" in client.get(url, {"week": "soon"}).content.decode()
    assert Staff.objects.get(code="tpagent").unit == org["taipei"]
    assert Promise.objects.count() == 2
