"""Loading and removing the demo company: the one home of `rapport demo`'s database work.

The organisation, staff, logins, attribute registry and source systems are created here; every
customer and touchpoint goes through rapport.customers.ingest and rapport.touchpoints.ingest —
the same write path as the import command and the API.

`load_demo` runs in one transaction: an interrupted load leaves the database as it was, and
running it again starts afresh. On SQLite that transaction holds the write lock throughout.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import User
from django.db import transaction
from django.utils.translation import gettext as _

from rapport.core.demo import generator, org, surveys
from rapport.core.demo.people import SOURCES
from rapport.core.ingestion import IngestReport
from rapport.customers.ingest import ingest_customers
from rapport.customers.models import (
    AttributeDefinition,
    Customer,
    IdentityReview,
    Merge,
    SourceSystem,
)
from rapport.org.models import OrgUnit, Staff
from rapport.touchpoints.ingest import ingest_touchpoints
from rapport.touchpoints.models import Touchpoint

# The customer attributes the demo fills in, registered so that analytics know their types.
ATTRIBUTES: tuple[tuple[str, str, str], ...] = (
    ("model", "Car model", "string"),
    ("model_year", "Model year", "integer"),
    ("vehicle_value", "Vehicle value (TWD)", "decimal"),
    ("loyalty_tier", "Loyalty tier", "string"),
    ("birth_year", "Year of birth", "integer"),
    ("vehicles", "Cars owned", "integer"),
)


PARALLEL_FROM = 5_000


class DemoError(Exception):
    """The demo cannot be loaded here, or a generated record was refused (a bug: said plainly)."""


@dataclass
class Login:
    username: str
    role: str
    unit: str
    created: bool  # False: the user existed already and keeps its password


@dataclass
class DemoSummary:
    customers: int = 0
    touchpoints: int = 0
    logins: list[Login] = field(default_factory=list)
    password: str = ""


@dataclass(frozen=True)
class DemoStatus:
    enterprise: str
    customers: int
    touchpoints: int
    logins: list[Login]


def demo_status() -> DemoStatus | None:
    """What is loaded, when the demo company is in this database."""
    root = OrgUnit.objects.filter(code=org.ENTERPRISE_CODE, parent__isnull=True).first()
    if root is None:
        return None
    return DemoStatus(
        enterprise=root.name,
        customers=Customer.objects.filter(merged_into__isnull=True).count(),
        touchpoints=Touchpoint.objects.count(),
        logins=_logins(),
    )


def other_organisation() -> OrgUnit | None:
    """A root unit that is not the demo's: the database holds a real organisation."""
    return OrgUnit.objects.filter(parent__isnull=True).exclude(code=org.ENTERPRISE_CODE).first()


def load_demo(
    seed: int,
    customers: int,
    as_of: date,
    *,
    progress: Callable[[int], None] | None = None,
    chunk_size: int = 1_000,
    parallel: bool | None = None,
) -> DemoSummary:
    """Build the demo company in one transaction; `progress(n)` after every n customers.

    `parallel` generates the records in a child process while this one writes (default: for
    more than PARALLEL_FROM customers, where it saves more than the child costs to start).
    """
    if demo_status() is not None:
        raise DemoError(_("The demo company is already loaded."))
    other = other_organisation()
    if other is not None:
        raise DemoError(
            _(
                "This database already holds an organisation (%(name)s); load the demo into an "
                "empty one (set DATABASE_URL, or run it in another directory)."
            )
            % {"name": other.name}
        )
    summary = DemoSummary(password=_password())
    with transaction.atomic():
        _create_org(seed)
        summary.logins = _create_logins(seed, summary.password)
        _register_attributes_and_sources()
        if parallel is None:
            parallel = customers > PARALLEL_FROM and generator.can_prefetch()
        stream = (generator.prefetched if parallel else generator.chunks)(
            seed, customers, as_of, size=chunk_size
        )
        with closing(stream):
            for chunk in stream:
                _write(chunk, summary)
                if progress:
                    progress(chunk.customers)
        surveys.load_surveys(seed, customers, as_of)
        _load_cases(seed, as_of)
        _load_feedback(seed, as_of)
    return summary


def _load_cases(seed: int, as_of: date) -> None:
    """Cases in every state from the demo's detractors and complaints (rapport.cases.demo)."""
    from datetime import datetime, time

    from django.utils import timezone

    from rapport.cases.demo import load_cases

    load_cases(seed=seed, as_of=timezone.make_aware(datetime.combine(as_of, time(18, 0))))


def _load_feedback(seed: int, as_of: date) -> None:
    """Trilingual feedback and a campaign with a control group (rapport.feedback.demo)."""
    from rapport.feedback.demo import load_feedback

    load_feedback(seed=seed, as_of=as_of)


def _write(chunk: generator.Chunk, summary: DemoSummary) -> None:
    """One chunk through the ingestion functions: customer masters first, then touchpoints."""
    for batch in chunk.batches:
        if batch.target == "customers":
            report = ingest_customers(batch.records, source=batch.source, emit_events=False)
            summary.customers += report.created
        else:
            report = ingest_touchpoints(batch.records, source=batch.source, emit_events=False)
            summary.touchpoints += report.created
        _check(report, batch)


def _check(report: IngestReport, batch: generator.Batch) -> None:
    """Every generated record must be taken as it is: a refusal or a review is a generator bug."""
    if report.rejected or report.review:
        first = "; ".join(str(p) for p in report.problems[:3])
        raise DemoError(
            _("The %(source)s %(target)s were refused (%(n)d rejected, %(r)d to review): %(why)s")
            % {
                "source": batch.source,
                "target": batch.target,
                "n": report.rejected,
                "r": report.review,
                "why": first or "-",
            }
        )


def _create_org(seed: int) -> None:
    by_code: dict[str, OrgUnit] = {}
    for spec in org.units():
        unit = OrgUnit(
            code=spec.code,
            name=spec.name,
            kind=spec.kind,
            parent=by_code.get(spec.parent) if spec.parent else None,
            time_zone=spec.time_zone,
        )
        unit.save()
        by_code[spec.code] = unit
    Staff.objects.bulk_create(
        [
            Staff(code=s.code, display_name=s.display_name, unit=by_code[s.unit], role=s.role)
            for s in org.staff(seed)
        ]
    )


def _create_logins(seed: int, password: str) -> list[Login]:
    """The demo logins, all with one generated password (hashed once: hashing is slow on
    purpose). A user that already exists keeps its password and is only linked to its staff row."""
    hashed = make_password(password)
    logins = []
    for spec in org.staff(seed):
        if spec.username is None:
            continue
        staff = Staff.objects.select_related("unit").get(code=spec.code)
        user = User.objects.filter(username=spec.username).first()
        created = user is None
        if user is None:
            user = User.objects.create(
                username=spec.username,
                password=hashed,
                first_name=spec.display_name,
                is_superuser=spec.role == Staff.Role.ADMIN,
            )
        if not hasattr(user, "staff"):
            staff.user = user
            staff.save()  # the role's group and flags follow (rapport.org.signals)
        logins.append(Login(spec.username, staff.get_role_display(), staff.unit.name, created))
    return logins


def _logins() -> list[Login]:
    demo_users = org.login_staff_codes()
    staff = Staff.objects.select_related("unit", "user").filter(
        code__in=demo_users.values(), user__isnull=False
    )
    by_code = {s.code: s for s in staff}
    return [
        Login(username, by_code[code].get_role_display(), by_code[code].unit.name, False)
        for username, code in demo_users.items()
        if code in by_code
    ]


def _register_attributes_and_sources() -> None:
    for name, label, type_ in ATTRIBUTES:
        AttributeDefinition.objects.get_or_create(
            name=name, defaults={"label": label, "type": type_}
        )
    for code, name in SOURCES.items():
        SourceSystem.objects.get_or_create(code=code, defaults={"name": name})


def _password() -> str:
    """Four groups of letters and digits: easy to type, never derived from the public seed."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(4))


def reset_demo() -> None:
    """Remove the demo company — and with it every customer and touchpoint, since the demo only
    loads into a database that holds no other organisation. One transaction."""
    root = OrgUnit.objects.filter(code=org.ENTERPRISE_CODE, parent__isnull=True).first()
    if root is None:
        return
    other = other_organisation()
    if other is not None:
        raise DemoError(
            _("This database also holds %(name)s; remove the demo by hand.") % {"name": other.name}
        )
    with transaction.atomic():
        from rapport.cases.models import Case
        from rapport.feedback.models import Campaign, FeedbackItem

        Case.objects.all().delete()  # with their trails, remedies, approvals and messages
        FeedbackItem.objects.all().delete()  # with their labels and corrections
        Campaign.objects.all().delete()  # with their members
        surveys.reset_surveys()
        Touchpoint.objects.all().delete()
        Merge.objects.all().delete()
        IdentityReview.objects.all().delete()
        Customer.objects.all().delete()
        units = list(root.subtree())
        staff = Staff.objects.filter(unit__in=units)
        User.objects.filter(staff__in=staff).delete()
        staff.delete()
        for unit in sorted(units, key=lambda u: u.depth, reverse=True):
            unit.delete()
