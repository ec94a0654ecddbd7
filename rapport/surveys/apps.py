from django.apps import AppConfig


class SurveysConfig(AppConfig):
    name = "rapport.surveys"
    label = "surveys"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from rapport.surveys import triggers  # noqa: F401 — subscribes to touchpoint.created
