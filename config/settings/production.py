"""Production: every secret from the environment, PostgreSQL and Redis required, HTTPS only."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from config.logging import logging_config

from .base import *  # noqa: F403
from .base import (
    BASE_DIR,
    LOG_LEVEL,
    MIDDLEWARE,
    SMARTCAR_CONNECT_ORIGIN,
    SMARTCAR_EMULATOR,
    SMARTCAR_EMULATOR_ALLOWED_IN_PRODUCTION,
    SMARTCAR_MODE,
    SMARTCAR_TEST_MODE_ALLOWED_IN_PRODUCTION,
    database_config,
    env,
)

PRODUCTION = True

# The emulator mints tokens for fake cars for anyone who asks. gunicorn runs no system checks (smartcar_emulator.E001
# speaks only to manage.py), so the settings themselves refuse it, before any process can serve it.
if SMARTCAR_EMULATOR and not SMARTCAR_EMULATOR_ALLOWED_IN_PRODUCTION:
    raise ImproperlyConfigured(
        "SMARTCAR_EMULATOR is on in production: anyone could mint tokens for fake cars. Unset SMARTCAR_EMULATOR, "
        "or set SMARTCAR_EMULATOR_ALLOWED_IN_PRODUCTION=true for a demo."
    )

if SMARTCAR_MODE != "live" and not SMARTCAR_TEST_MODE_ALLOWED_IN_PRODUCTION:
    raise ImproperlyConfigured(
        f"SMARTCAR_MODE is {SMARTCAR_MODE!r} in production: people would connect test or simulated cars, not their "
        "own. Set SMARTCAR_MODE=live, or SMARTCAR_TEST_MODE_ALLOWED_IN_PRODUCTION=true for a demo."
    )

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
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^healthz/beat$"]
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Only the plain-HTTP demo on a laptop turns this off (deploy/demo.env).
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
SESSION_COOKIE_HTTPONLY = True
# Lax, not Strict: the browser's return from Smartcar Connect is a cross-site top-level navigation that must
# carry the session cookie.
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


# Every page uses only its own stylesheet and no script, inline style or third-party resource
# (tests/deploy/test_csp.py checks the templates). Forms may lead to Smartcar Connect: signing in with ?next=/login
# redirects there, and browsers hold redirects after a form POST to form-action; the emulator's Connect pages end in
# a redirect to the application's redirect URI.
CONTENT_SECURITY_POLICY = {
    "default-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "frame-ancestors": ["'none'"],
    "form-action": list(dict.fromkeys(["'self'", _origin(SMARTCAR_CONNECT_ORIGIN), _origin(SMARTCAR_REDIRECT_URI)])),
}

# Behind the TLS-terminating proxy, sign-in throttling counts failures per client address from X-Forwarded-For.
TRUSTED_PROXY_COUNT = env.int("DJANGO_TRUSTED_PROXY_COUNT", default=1)

# Collected into the image at build time (Dockerfile).
STATIC_ROOT = env.path("DJANGO_STATIC_ROOT", default=BASE_DIR / "staticfiles")

# The request id first, so that every later log line carries it; static files are served by whitenoise from the
# collected, hashed copies.
MIDDLEWARE = [
    "config.middleware.RequestIdMiddleware",
    MIDDLEWARE[0],
    "config.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    *MIDDLEWARE[1:],
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# JSON lines on stdout with the request id, every credential-looking value redacted (config/logging.py).
LOGGING = logging_config(LOG_LEVEL)

# Beat keeps its schedule state in a writable place; the image's code folder is read-only to the app user.
CELERY_BEAT_SCHEDULE_FILENAME = env.str("CELERY_BEAT_SCHEDULE_FILENAME", default="/tmp/celerybeat-schedule")  # noqa: S108
