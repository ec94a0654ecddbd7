from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "rapport.integrations"
    label = "integrations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from rapport.core.events import register_outbox
        from rapport.integrations.webhooks import write_outbox

        register_outbox(write_outbox)
