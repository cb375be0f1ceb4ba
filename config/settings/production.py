"""Production: every secret from the environment, PostgreSQL and Redis required, HTTPS only."""

from __future__ import annotations

from .base import *  # noqa: F403
from .base import MIDDLEWARE, database_config, env

PRODUCTION = True

# No defaults here: a missing variable stops the process at start-up with its name.
SECRET_KEY = env.str("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
DATABASES = {"default": database_config(env.str("DATABASE_URL"))}
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL")
vars().update(env.email("EMAIL_URL"))
TOKEN_ENCRYPTION_KEYS = env.list("TOKEN_ENCRYPTION_KEYS")
SMARTCAR_CLIENT_ID = env.str("SMARTCAR_CLIENT_ID")
SMARTCAR_CLIENT_SECRET = env.str("SMARTCAR_CLIENT_SECRET")
SMARTCAR_REDIRECT_URI = env.str("SMARTCAR_REDIRECT_URI")

# TLS ends at the proxy in front of gunicorn, which must set X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
# Lax, not Strict: the browser's return from Smartcar Connect is a cross-site top-level navigation that must
# carry the session cookie.
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"

# Static files are served by whitenoise from the collected, hashed copies.
MIDDLEWARE = [MIDDLEWARE[0], "whitenoise.middleware.WhiteNoiseMiddleware", *MIDDLEWARE[1:]]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
