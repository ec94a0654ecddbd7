"""The HTTP API under /api/v1/ (django-ninja); each app adds its router here."""

from ninja import NinjaAPI

api = NinjaAPI(title="Rapport API", version="1", urls_namespace="api")
