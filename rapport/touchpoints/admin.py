from django.contrib import admin

from rapport.touchpoints.models import Touchpoint, TouchpointKind


@admin.register(TouchpointKind)
class TouchpointKindAdmin(admin.ModelAdmin):
    list_display = ["code", "label"]
    search_fields = ["code", "label"]


@admin.register(Touchpoint)
class TouchpointAdmin(admin.ModelAdmin):
    list_display = ["occurred_at", "kind", "channel", "customer", "unit", "source", "external_id"]
    list_filter = ["channel", "source"]
    search_fields = ["external_id", "customer__display_name"]
    date_hierarchy = "occurred_at"
    list_select_related = ["customer", "unit", "source"]
    raw_id_fields = ["customer", "staff"]
    autocomplete_fields = ["unit"]
    readonly_fields = ["created_at"]
    show_full_result_count = False  # counting tens of millions of rows on every page is slow
