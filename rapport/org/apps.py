from django.apps import AppConfig
from django.db.models.signals import post_migrate


class OrgConfig(AppConfig):
    name = "rapport.org"
    label = "org"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from rapport.org import signals  # noqa: F401
        from rapport.org.roles import sync_role_groups

        post_migrate.connect(sync_role_groups, dispatch_uid="rapport.org.sync_role_groups")
