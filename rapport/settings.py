"""Django settings, read from the environment.

Defaults give the embedded set-up: a SQLite file under ./var/, a secret key generated there on
first run, and no outside service. Set DATABASE_URL for PostgreSQL.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent
VAR_DIR = Path(os.environ.get("RAPPORT_VAR_DIR", Path.cwd() / "var")).resolve()


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _secret_key() -> str:
    """The key from RAPPORT_SECRET_KEY, else one generated once into var/secret_key."""
    if key := os.environ.get("RAPPORT_SECRET_KEY"):
        return key
    path = VAR_DIR / "secret_key"
    if path.exists():
        return path.read_text().strip()
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


SECRET_KEY = _secret_key()
DEBUG = _env_bool("RAPPORT_DEBUG", False)
ALLOWED_HOSTS = [
    h.strip()
    for h in os.environ.get("RAPPORT_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(",")
    if h.strip()
]
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("RAPPORT_CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]
SITE_URL = os.environ.get("RAPPORT_SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_tasks",
    "django_tasks_db",
    "rapport.core",
    "rapport.org",
    "rapport.customers",
    "rapport.touchpoints",
    "rapport.integrations",
    "rapport.surveys",
    "rapport.insights",
    "rapport.cases",
    "rapport.feedback",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "rapport.urls"
WSGI_APPLICATION = "rapport.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "rapport.core.context_processors.navigation",
            ],
        },
    },
]


def _database() -> dict:
    url = os.environ.get("DATABASE_URL")
    if not url:
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{VAR_DIR / 'rapport.sqlite3'}"
    # Persistent connections: opening one (and, on SQLite, running the PRAGMAs below) cost a
    # survey submit about a third of its CPU time. Each server thread keeps its own; the health
    # check replaces one the database dropped before a request uses it. 0 = one per request.
    db = dj_database_url.parse(
        url,
        conn_max_age=int(os.environ.get("RAPPORT_DB_CONN_MAX_AGE", 600)),
        conn_health_checks=True,
    )
    if db["ENGINE"] == "django.db.backends.sqlite3":
        # WAL lets readers run beside the writer; IMMEDIATE takes the write lock at BEGIN so two
        # writers queue on busy_timeout instead of failing on a lock upgrade.
        db["OPTIONS"] = {
            "init_command": (
                "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;PRAGMA foreign_keys=ON;"
                "PRAGMA busy_timeout=30000;PRAGMA temp_store=MEMORY;PRAGMA cache_size=-65536;"
            ),
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
        }
        # Tests use a file, not Django's shared-cache memory database: there, concurrent writers
        # (live servers, worker threads) fail with "table is locked" instead of waiting.
        test_db = Path(tempfile.gettempdir()) / f"rapport-test-{os.getpid()}.sqlite3"
        db["TEST"] = {"NAME": str(test_db)}
    return db


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hant", "繁體中文"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = os.environ.get("RAPPORT_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]  # vendored front-end assets (scripts/vendor-assets)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
MEDIA_ROOT = VAR_DIR / "media"

EMAIL_BACKEND = os.environ.get(
    "RAPPORT_EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend"
)
EMAIL_HOST = os.environ.get("RAPPORT_EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("RAPPORT_EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("RAPPORT_EMAIL_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("RAPPORT_EMAIL_PASSWORD", "")
EMAIL_USE_TLS = _env_bool("RAPPORT_EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = 20
DEFAULT_FROM_EMAIL = os.environ.get("RAPPORT_FROM_EMAIL", "rapport@localhost")

TASKS = {
    "default": {
        "BACKEND": os.environ.get("RAPPORT_TASK_BACKEND", "django_tasks_db.DatabaseBackend"),
        "QUEUES": [],
    }
}

# Rapport's own settings.
RAPPORT_DEFAULT_TIME_ZONE = os.environ.get("RAPPORT_DEFAULT_TIME_ZONE", "Asia/Taipei")
RAPPORT_DEFAULT_REGION = os.environ.get("RAPPORT_DEFAULT_REGION", "TW")  # for phone numbers
RAPPORT_MAX_FUTURE_DAYS = 1  # a touchpoint more than this far ahead is rejected
# Case and survey rules act on touchpoints at most this old (an import of history fires none).
RAPPORT_LIVE_EVENT_MAX_AGE_DAYS = int(os.environ.get("RAPPORT_LIVE_EVENT_MAX_AGE_DAYS", "7"))
RAPPORT_API_MAX_RECORDS = 10_000
RAPPORT_WEBHOOK_MAX_ATTEMPTS = 8

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("RAPPORT_LOG_LEVEL", "WARNING")},
    "loggers": {"rapport": {"level": os.environ.get("RAPPORT_LOG_LEVEL", "INFO")}},
}

if not DEBUG:
    SESSION_COOKIE_HTTPONLY = True
    CSRF_COOKIE_SAMESITE = "Lax"
    X_FRAME_OPTIONS = "DENY"
    SECURE_CONTENT_TYPE_NOSNIFF = True
