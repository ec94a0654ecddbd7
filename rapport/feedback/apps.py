from django.apps import AppConfig


class FeedbackConfig(AppConfig):
    name = "rapport.feedback"
    label = "feedback"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # timeline: items on the Customer 360; subscribers: survey answers and inbound mail
        from rapport.feedback import subscribers, timeline  # noqa: F401
