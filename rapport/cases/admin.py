"""Configuration screens until the cases UI exists: rules, SLA targets, calendars, authority
limits, message templates and the settings. Cases themselves change only through the actions."""

from django.contrib import admin

from rapport.cases.models import (
    AuthorityLimit,
    BusinessCalendar,
    CaseRule,
    CaseSettings,
    MessageTemplate,
    SlaPolicy,
)


@admin.register(CaseRule)
class CaseRuleAdmin(admin.ModelAdmin):
    list_display = ("name", "condition", "topic", "severity", "unit", "order", "active")
    list_filter = ("active", "condition")


@admin.register(SlaPolicy)
class SlaPolicyAdmin(admin.ModelAdmin):
    list_display = ("priority", "acknowledge_minutes", "first_response_minutes", "resolve_minutes")


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(admin.ModelAdmin):
    list_display = ("__str__", "holiday_country")


@admin.register(AuthorityLimit)
class AuthorityLimitAdmin(admin.ModelAdmin):
    list_display = ("role", "staff", "currency", "max_value")
    list_filter = ("role", "currency")


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    list_display = ("kind", "language", "subject")
    list_filter = ("kind", "language")


admin.site.register(CaseSettings)
