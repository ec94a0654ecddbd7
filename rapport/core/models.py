"""Core models: the bookkeeping of periodic jobs (rapport.core.scheduler)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class ScheduledJob(models.Model):
    """One row per periodic job; a worker runs the job only after moving `next_run_at` forward
    with a conditional UPDATE, so several workers never run it twice."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    next_run_at = models.DateTimeField(_("next run"))
    last_started_at = models.DateTimeField(_("last started"), null=True, blank=True)
    last_finished_at = models.DateTimeField(_("last finished"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("scheduled job")
        verbose_name_plural = _("scheduled jobs")

    def __str__(self) -> str:
        return self.name


class SingleRowSettings(models.Model):
    """Settings a manager edits in the admin: one row (pk=1), created with defaults on first use."""

    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return str(self._meta.verbose_name)

    @classmethod
    def current(cls):  # type: ignore[no-untyped-def]
        row, _created = cls.objects.get_or_create(pk=1)
        return row
