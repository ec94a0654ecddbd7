from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CasesConfig(AppConfig):
    name = "rapport.cases"
    label = "cases"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from rapport.cases import defaults, triggers  # noqa: F401 — subscribes to events

        post_migrate.connect(defaults.install, sender=self, dispatch_uid="rapport.cases.defaults")
