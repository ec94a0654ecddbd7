from django.contrib import admin

from rapport.org.models import OrgUnit, Staff


@admin.register(OrgUnit)
class OrgUnitAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "kind", "parent", "time_zone"]
    list_filter = ["kind"]
    search_fields = ["name", "code"]
    ordering = ["path"]
    autocomplete_fields = ["parent"]


@admin.register(Staff)
class StaffAdmin(admin.ModelAdmin):
    list_display = ["display_name", "code", "unit", "role", "active", "user"]
    list_filter = ["role", "active"]
    search_fields = ["display_name", "code", "user__username"]
    list_select_related = ["unit", "user"]
    autocomplete_fields = ["unit", "user"]
