from django.apps import AppConfig


class TouchpointsConfig(AppConfig):
    name = "rapport.touchpoints"
    label = "touchpoints"
    default_auto_field = "django.db.models.BigAutoField"
