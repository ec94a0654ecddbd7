from django.contrib import admin

from rapport.customers.models import (
    AttributeDefinition,
    Consent,
    Customer,
    CustomerIdentity,
    IdentityReview,
    Merge,
    SourceSystem,
)


@admin.register(SourceSystem)
class SourceSystemAdmin(admin.ModelAdmin):
    list_display = ["code", "name"]
    search_fields = ["code", "name"]


@admin.register(AttributeDefinition)
class AttributeDefinitionAdmin(admin.ModelAdmin):
    list_display = ["name", "label", "type"]
    list_filter = ["type"]
    search_fields = ["name", "label"]


class IdentityInline(admin.TabularInline):
    model = CustomerIdentity
    extra = 0
    autocomplete_fields = ["source"]


class ConsentInline(admin.TabularInline):
    model = Consent
    extra = 0
    readonly_fields = ["recorded_at"]


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["__str__", "email", "phone", "home_unit", "preferred_language", "merged_into"]
    list_filter = ["preferred_language"]
    search_fields = ["display_name", "email", "phone", "identities__external_id"]
    list_select_related = ["home_unit", "merged_into"]
    autocomplete_fields = ["home_unit"]
    raw_id_fields = ["merged_into"]
    readonly_fields = ["created_at", "updated_at", "merged_into"]
    inlines = [IdentityInline, ConsentInline]


@admin.register(IdentityReview)
class IdentityReviewAdmin(admin.ModelAdmin):
    list_display = ["__str__", "reason", "status", "created_at", "resolved_by"]
    list_filter = ["status", "source"]
    search_fields = ["external_id"]
    raw_id_fields = ["candidates", "resolved_customer"]
    readonly_fields = ["created_at", "resolved_at"]


@admin.register(Merge)
class MergeAdmin(admin.ModelAdmin):
    """Read-only: merges are made and undone on the customer page, so that they stay audited."""

    list_display = ["__str__", "performed_at", "performed_by", "undone_at"]
    list_select_related = ["performed_by"]
    raw_id_fields = ["survivor", "merged"]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
