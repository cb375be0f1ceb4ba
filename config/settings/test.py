"""The test suite: real PostgreSQL and Redis (`make test` starts throwaway ones), fast hashing."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import (
    INSTALLED_APPS,
    SMARTCAR_EMULATOR_API_CLIENT_ID,
    SMARTCAR_EMULATOR_API_CLIENT_SECRETS,
    SMARTCAR_EMULATOR_CLIENT_ID,
    SMARTCAR_EMULATOR_CLIENT_SECRET,
    database_config,
    env,
)

SECRET_KEY = "test-only-key"  # noqa: S105 - never leaves the test run

# Concurrency and locking behave differently on SQLite; the suite proves them on the real engine.
if "DATABASE_URL" not in env.ENVIRON or "CELERY_BROKER_URL" not in env.ENVIRON:
    raise ImproperlyConfigured(
        "The tests run on PostgreSQL and Redis: run `make test`, which starts throwaway ones, "
        "or set DATABASE_URL and CELERY_BROKER_URL."
    )
DATABASES = {"default": database_config(env.str("DATABASE_URL"))}
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("The tests run on PostgreSQL: DATABASE_URL must be a postgres:// URL.")
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL")
if not CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    raise ImproperlyConfigured("The tests run on Redis: CELERY_BROKER_URL must be a redis:// URL.")

TOKEN_ENCRYPTION_KEYS = ["dGVzdC1vbmx5LXRva2VuLWtleS0zMi1ieXRlcy1vayE="]

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# The emulator is mounted so that the suite can drive the whole flow with the unmodified SDK over HTTP.
SMARTCAR_EMULATOR = True
if "smartcar_emulator" not in INSTALLED_APPS:
    INSTALLED_APPS.append("smartcar_emulator")
# The application the emulator knows; tests point the SMARTCAR_*_ORIGIN settings at a live server per test.
SMARTCAR_CLIENT_ID = SMARTCAR_EMULATOR_CLIENT_ID
SMARTCAR_CLIENT_SECRET = SMARTCAR_EMULATOR_CLIENT_SECRET
SMARTCAR_API_CLIENT_ID = SMARTCAR_EMULATOR_API_CLIENT_ID
SMARTCAR_API_CLIENT_SECRET = SMARTCAR_EMULATOR_API_CLIENT_SECRETS[0]
