from django.contrib import admin

from rapport.feedback.models import Campaign, Correction, FeedbackItem, Theme


@admin.register(FeedbackItem)
class FeedbackItemAdmin(admin.ModelAdmin):
    list_display = ("pk", "received_at", "channel", "sentiment", "severity", "customer", "unit")
    list_filter = ("channel", "sentiment")
    search_fields = ("text", "external_id", "author_contact")
    raw_id_fields = ("customer", "touchpoint", "unit", "staff", "campaign")
    readonly_fields = ("text",)


@admin.register(Theme)
class ThemeAdmin(admin.ModelAdmin):
    list_display = ("key", "name", "active")


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ("key", "name", "starts_on", "ends_on", "control_share")


@admin.register(Correction)
class CorrectionAdmin(admin.ModelAdmin):
    list_display = ("item", "field", "value", "by", "created_at")
    raw_id_fields = ("item",)
