"""`rapport surveys dry-run RULE|WAVE`, `rapport surveys send-due`, `rapport surveys run-wave WAVE`.

dry-run names an event rule or a wave by id or name (prefix with "rule:" or "wave:" when both
match) and shows who would be invited and, for the others, which contact rule suppressed them:
counts per rule and a sample list. It writes nothing.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q

from rapport.surveys import distribution, triggers, waves
from rapport.surveys.contact_rules import RULE_LABELS
from rapport.surveys.models import EventRule, Wave


def _find(model: Any, ref: str) -> Any:
    query = Q(name=ref) | (Q(pk=int(ref)) if ref.isdigit() else Q())
    return model.objects.filter(query).first()


def resolve(ref: str) -> EventRule | Wave:
    kind, _sep, name = ref.partition(":")
    if kind in {"rule", "wave"} and name:
        found = _find(EventRule if kind == "rule" else Wave, name)
        if found is None:
            raise CommandError(f"no {kind} named or numbered {name!r}")
        return found
    rule, wave = _find(EventRule, ref), _find(Wave, ref)
    if rule is not None and wave is not None:
        raise CommandError(f"{ref!r} names both a rule and a wave: write rule:{ref} or wave:{ref}")
    if rule is None and wave is None:
        raise CommandError(f"no event rule or wave named or numbered {ref!r}")
    return rule or wave


class Command(BaseCommand):
    help = "Survey distribution: dry runs of rules and waves, sending what is due, running a wave."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        dry = sub.add_parser("dry-run", help="who a rule or wave would invite; writes nothing")
        dry.add_argument("ref", metavar="RULE", help="rule or wave: id or name (rule:X / wave:X)")
        dry.add_argument("--days", type=int, default=7, help="rule: touchpoints of the last N days")
        dry.add_argument("--json", action="store_true", help="print the report as JSON")
        sub.add_parser("send-due", help="send due invitations and reminders, expire old links")
        run = sub.add_parser("run-wave", help="schedule one run of a wave now")
        run.add_argument("ref", metavar="WAVE")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "send-due":
            sent = distribution.send_due()
            reminded = distribution.send_reminders()
            expired = distribution.expire_due()
            self.stdout.write(
                f"sent {sent.sent}, retrying {sent.retrying}, bounced {sent.bounced}, "
                f"suppressed {sent.suppressed}, postponed {sent.postponed}; "
                f"reminders {reminded.sent}; expired {expired}"
            )
            for error in sent.errors + reminded.errors:
                self.stderr.write(error)
            return
        if action == "run-wave":
            wave = resolve("wave:" + options["ref"])
            report = waves.schedule_wave(wave)
            self.stdout.write(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
            return
        target = resolve(options["ref"])
        if isinstance(target, EventRule):
            report = triggers.dry_run_rule(target, days=options["days"]).as_dict()
            head = (
                f"Event rule {target.name!r} (id {target.pk}), touchpoints since "
                f"{report['since']}: {report['touchpoints']} fire it."
            )
        else:
            report = waves.schedule_wave(target, dry_run=True).as_dict()
            head = (
                f"Wave {target.name!r} (id {target.pk}): {report['segment']} customers in the "
                f"segment, {report['eligible']} allowed by the contact rules."
            )
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2, ensure_ascii=False, default=str))
            return
        self.stdout.write("DRY RUN — nothing written.")
        self.stdout.write(head)
        self.stdout.write(f"Would invite: {report['invited']}")
        for item in report["invited_sample"]:
            if isinstance(item, dict):
                self.stdout.write(
                    f"  customer {item['customer_id']} (touchpoint {item['touchpoint_id']}) "
                    f"at {item['send_at']}"
                )
            else:
                self.stdout.write(f"  customer {item}")
        total = sum(report["suppressed"].values())
        self.stdout.write(f"Suppressed: {total}")
        for rule, count in report["suppressed"].items():
            sample = ", ".join(str(i) for i in report["suppressed_sample"].get(rule, []))
            self.stdout.write(f"  {rule} ({RULE_LABELS.get(rule, rule)}): {count}")
            if sample:
                self.stdout.write(f"    e.g. customers {sample}")
