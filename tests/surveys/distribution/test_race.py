"""Two workers sending at once: every invitation goes out exactly once."""

from __future__ import annotations

import threading

from django.db import connection, connections

from rapport.surveys import distribution
from rapport.surveys.models import Invitation


def test_racing_senders_send_each_invitation_once(transactional_db, smtp, policy, nps, reachable):
    for n in range(30):
        distribution.invite_after_event(reachable(f"C{n}"), nps)
    barrier = threading.Barrier(3)
    reports = []
    errors = []

    def worker() -> None:
        try:
            barrier.wait()
            reports.append(distribution.send_due())
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sum(r.sent for r in reports) == 30
    recipients = [m["To"] for m in smtp.mailbox.messages]
    assert len(recipients) == 30 and len(set(recipients)) == 30
    assert Invitation.objects.filter(status="sent").count() == 30
    assert connection.vendor in {"sqlite", "postgresql"}
