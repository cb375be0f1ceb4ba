"""Settings shared by every environment; read once from the environment (and `.env`) by django-environ."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent.parent

# Runtime state of the embedded quick start (filesystem broker, beat schedule); git-ignored.
RUN_DIR = BASE_DIR / ".run"

env = environ.Env()
# Variables already in the environment win over the file. DJANGO_ENV_FILE points elsewhere (or at /dev/null).
env.read_env(env.str("DJANGO_ENV_FILE", default=str(BASE_DIR / ".env")))


def database_config(url: str) -> dict:
    """A DATABASES entry for `url`, tuned for the engine it names."""
    config = env.db_url_config(url)
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # Web, worker and beat share one SQLite file in the quick start: WAL lets readers run beside the
        # writer, IMMEDIATE takes the write lock at BEGIN so that transactions serialise instead of failing
        # with "database is locked" on upgrade, and the timeout makes waiters queue.
        config["OPTIONS"] = {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    else:
        config["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
        config["CONN_HEALTH_CHECKS"] = True
        config.setdefault("OPTIONS", {})["connect_timeout"] = env.int("DATABASE_CONNECT_TIMEOUT", default=5)
    return config


# Set by production.py alone; system checks use it to refuse what must never run in production.
PRODUCTION = False
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
SITE_NAME = "Garage"
# Production may move the admin away from the path every scanner tries first.
ADMIN_URL = env.str("DJANGO_ADMIN_URL", default="admin/")

DATABASES = {"default": database_config(env.str("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "accounts",
    "vehicles",
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "config.context_processors.site",
            ],
        },
    },
]

# Accounts: email is the login.
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_RESET_TIMEOUT = 60 * 60 * 3

# Sign-in throttling (django-axes), for the site and the admin alike: AXES_FAILURE_LIMIT failed sign-ins for one email
# address from one client address lock that pair out for AXES_COOLOFF_MINUTES (and each further try restarts the
# wait). Axes' backend must come first. The client address is read behind DJANGO_TRUSTED_PROXY_COUNT proxies.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_CALLABLE = "config.signin.username"
AXES_CLIENT_IP_CALLABLE = "config.signin.client_ip"
AXES_LOCKOUT_CALLABLE = "config.signin.lockout_response"
# Failures are all the throttle needs; a row per successful sign-in would only grow.
AXES_DISABLE_ACCESS_LOG = True
TRUSTED_PROXY_COUNT = env.int("DJANGO_TRUSTED_PROXY_COUNT", default=0)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]

# Email: the console locally; production sets EMAIL_URL (smtp+tls://user:password@host:587, ...).
vars().update(env.email("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DJANGO_DEFAULT_FROM_EMAIL", default="Garage <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Celery: a Redis broker in production and tests; the quick start uses kombu's filesystem transport.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
# A task runs at most CELERY_TASK_TIME_LIMIT seconds (above the Smartcar HTTP bound, which a refresh may use twice);
# Redis redelivers an unacknowledged task after the visibility timeout, which must be longer still.
CELERY_TASK_SOFT_TIME_LIMIT = 60
CELERY_TASK_TIME_LIMIT = 90
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(RUN_DIR / "broker" / "queue"),
        "data_folder_out": str(RUN_DIR / "broker" / "queue"),
        "processed_folder": str(RUN_DIR / "broker" / "processed"),
        "control_folder": str(RUN_DIR / "broker" / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 5, "visibility_timeout": 3600}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing from a web request gives up after about a second: a dead Redis must not hang the page.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
# Tasks are idempotent, so a task lost with its worker is better run twice than never.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# The worker's tasks wait on Smartcar far longer than they compute (a refresh: ~2 ms of CPU, ~300 ms of waiting), so
# one process runs many at once in threads rather than one per process (docs/benchmarks.md, "Capacity"). Threads do
# not enforce Celery's time limits: every Smartcar call has its timeout, every row lock its lock_timeout, and the
# recovery of an unknown outcome its window. Each thread keeps its own PostgreSQL connection: size PostgreSQL's
# max_connections for the sum of all workers' concurrency, plus web.
CELERY_WORKER_POOL = env.str("CELERY_WORKER_POOL", default="threads")
CELERY_WORKER_CONCURRENCY = env.int("CELERY_WORKER_CONCURRENCY", default=32)
CELERY_TIMEZONE = "UTC"
# Every worker consumes both queues. Recoveries of refreshes whose outcome is unknown go to a queue of their own, so
# that they never wait behind a sweep's batches: they must reach Smartcar within its grace of about a minute.
CELERY_TASK_QUEUES = [Queue("celery"), Queue("recovery")]
CELERY_TASK_ROUTES = {
    "vehicles.tasks.recover_refresh": {"queue": "recovery"},
    "vehicles.tasks.recover_orphaned_refreshes": {"queue": "recovery"},
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# A worker keeps its database connection from task to task instead of opening one per task (Celery's default): a new
# PostgreSQL connection cost more CPU than the refresh itself. config/celery.py applies CONN_MAX_AGE and the health
# check around each task, as Django does around each web request.
CELERY_DB_REUSE_MAX = 1000

# Keeping Smartcar tokens alive. Beat looks every TOKEN_REFRESH_INTERVAL_MINUTES for ACTIVE connections whose access
# token expires within TOKEN_REFRESH_LEAD_TIME_MINUTES, or whose refresh token is older than
# TOKEN_REFRESH_MAX_AGE_DAYS (Smartcar's die unused after 60 days), and queues them in tasks of
# TOKEN_REFRESH_BATCH_SIZE connections (one message per refresh cost more CPU than the refresh; see docs/benchmarks.md).
TOKEN_REFRESH_INTERVAL_MINUTES = env.int("TOKEN_REFRESH_INTERVAL_MINUTES", default=5)
TOKEN_REFRESH_LEAD_TIME_MINUTES = env.int("TOKEN_REFRESH_LEAD_TIME_MINUTES", default=30)
TOKEN_REFRESH_MAX_AGE_DAYS = env.int("TOKEN_REFRESH_MAX_AGE_DAYS", default=50)
# `warm`: keep every access token fresh (refreshed TOKEN_REFRESH_LEAD_TIME_MINUTES before it expires, about every 1.5
# hours: a car's data and commands never wait for a refresh). `on-use`: refresh an access token only when a fetch or
# command needs it, and keep refresh tokens alive (about every 50 days): far fewer calls to Smartcar when the data
# comes by webhook (docs/token-lifecycle.md, "Refresh policy").
TOKEN_REFRESH_POLICIES = ("warm", "on-use")
TOKEN_REFRESH_POLICY = env.str("TOKEN_REFRESH_POLICY", default="warm")
if TOKEN_REFRESH_POLICY not in TOKEN_REFRESH_POLICIES:
    raise ImproperlyConfigured(
        f"TOKEN_REFRESH_POLICY must be one of {', '.join(TOKEN_REFRESH_POLICIES)}, not {TOKEN_REFRESH_POLICY!r}."
    )
TOKEN_REFRESH_BATCH_SIZE = env.int("TOKEN_REFRESH_BATCH_SIZE", default=10)
# Every TOKEN_RECOVERY_INTERVAL_SECONDS beat looks for refreshes left unfinished by a refresher that died or lost the
# database mid-call, and recovers them with the same refresh token while Smartcar's grace lasts.
TOKEN_RECOVERY_INTERVAL_SECONDS = env.int("TOKEN_RECOVERY_INTERVAL_SECONDS", default=5)
CELERY_BEAT_SCHEDULE = {
    "refresh-due-connections": {
        "task": "vehicles.tasks.refresh_due_connections",
        "schedule": TOKEN_REFRESH_INTERVAL_MINUTES * 60,
    },
    "recover-orphaned-refreshes": {
        "task": "vehicles.tasks.recover_orphaned_refreshes",
        "schedule": TOKEN_RECOVERY_INTERVAL_SECONDS,
        "options": {"expires": TOKEN_RECOVERY_INTERVAL_SECONDS},
    },
}

# Beat's heartbeat: every BEAT_HEARTBEAT_INTERVAL_SECONDS a worker records that beat sent it; /healthz/beat reports
# beat as stopped once the last one is older than BEAT_HEARTBEAT_MAX_AGE_SECONDS (see docs/operations.md).
BEAT_HEARTBEAT_INTERVAL_SECONDS = env.int("BEAT_HEARTBEAT_INTERVAL_SECONDS", default=60)
BEAT_HEARTBEAT_MAX_AGE_SECONDS = env.int("BEAT_HEARTBEAT_MAX_AGE_SECONDS", default=300)
CELERY_BEAT_SCHEDULE["beat-heartbeat"] = {
    "task": "config.tasks.beat_heartbeat",
    "schedule": BEAT_HEARTBEAT_INTERVAL_SECONDS,
    # A heartbeat that waited longer than an interval in the queue proves nothing; the next one will come.
    "options": {"expires": BEAT_HEARTBEAT_INTERVAL_SECONDS},
}
# config is not an app, so Celery's autodiscovery does not find its tasks.
CELERY_IMPORTS = ["config.tasks"]

# Vehicle data comes when a person asks, when a car is connected, from the webhook when there is one, and from this
# periodic fetch: every car whose data is older than VEHICLE_DATA_SYNC_MINUTES, except cars the webhook kept fresh.
# Smartcar counts calls per vehicle, so it is at least 15 minutes; 0 turns it off.
VEHICLE_DATA_SYNC_MINUTES = env.int("VEHICLE_DATA_SYNC_MINUTES", default=60)
if VEHICLE_DATA_SYNC_MINUTES:
    CELERY_BEAT_SCHEDULE["sync-vehicle-data"] = {
        "task": "vehicles.tasks.sync_stale_vehicles",
        "schedule": VEHICLE_DATA_SYNC_MINUTES * 60,
    }

# Each car's history (battery and fuel level, ranges, odometer, charging: one reading per change) is kept this many
# days; the vehicle page draws the last 30. Beat forgets older readings every hour.
VEHICLE_HISTORY_DAYS = env.int("VEHICLE_HISTORY_DAYS", default=30)
CELERY_BEAT_SCHEDULE["prune-vehicle-history"] = {
    "task": "vehicles.tasks.prune_history",
    "schedule": 60 * 60,
    "options": {"expires": 60 * 60},
}

# Smartcar: the application's credentials and the origins the SDK talks to (the names the SDK itself uses).
SMARTCAR_CLIENT_ID = env.str("SMARTCAR_CLIENT_ID", default="")
SMARTCAR_CLIENT_SECRET = env.str("SMARTCAR_CLIENT_SECRET", default="")
SMARTCAR_REDIRECT_URI = env.str("SMARTCAR_REDIRECT_URI", default="http://localhost:8000/exchange")
SMARTCAR_MODE = env.str("SMARTCAR_MODE", default="test")
# Production refuses a mode other than live unless this is set, as the docker demo does: a deploy that forgot
# SMARTCAR_MODE=live would send real people to test-mode Connect.
SMARTCAR_TEST_MODE_ALLOWED_IN_PRODUCTION = env.bool("SMARTCAR_TEST_MODE_ALLOWED_IN_PRODUCTION", default=False)
SMARTCAR_SCOPES = env.list("SMARTCAR_SCOPES", default=["read_vehicle_info"])
SMARTCAR_CONNECT_ORIGIN = env.str("SMARTCAR_CONNECT_ORIGIN", default="https://connect.smartcar.com")
SMARTCAR_AUTH_ORIGIN = env.str("SMARTCAR_AUTH_ORIGIN", default="https://auth.smartcar.com/oauth/token")
SMARTCAR_API_ORIGIN = env.str("SMARTCAR_API_ORIGIN", default="https://api.smartcar.com")
SMARTCAR_VEHICLE_API_V3_ORIGIN = env.str("SMARTCAR_VEHICLE_API_V3_ORIGIN", default="https://vehicle.api.smartcar.com")
# How the application authenticates to Smartcar (docs/operations.md, "Which auth mode is my application?"):
# `vehicle-tokens`, each connection's own access and refresh tokens from Connect's code; or `application`, Smartcar's
# API Authentication: one application token (client credentials, an hour long) and each connection's Smartcar user id.
SMARTCAR_AUTH_MODES = ("vehicle-tokens", "application")
SMARTCAR_AUTH = env.str("SMARTCAR_AUTH", default="vehicle-tokens")
if SMARTCAR_AUTH not in SMARTCAR_AUTH_MODES:
    raise ImproperlyConfigured(f"SMARTCAR_AUTH must be one of {', '.join(SMARTCAR_AUTH_MODES)}, not {SMARTCAR_AUTH!r}.")
# API Authentication's client (`client_...`, not the application id Connect uses) and Smartcar's IAM token endpoint.
SMARTCAR_API_CLIENT_ID = env.str("SMARTCAR_API_CLIENT_ID", default="")
SMARTCAR_API_CLIENT_SECRET = env.str("SMARTCAR_API_CLIENT_SECRET", default="")
SMARTCAR_IAM_TOKEN_URL = env.str("SMARTCAR_IAM_TOKEN_URL", default="https://iam.smartcar.com/oauth2/token")

# Webhooks (docs/webhooks.md): the application management token(s) that sign Smartcar's deliveries, comma-separated,
# the first current (it answers VERIFY), all accepted, so that a new one can be added before the old is dropped; and
# the webhook that connected cars are subscribed to (empty: no webhook, the data is polled).
SMARTCAR_MANAGEMENT_TOKENS = env.list("SMARTCAR_MANAGEMENT_TOKENS", default=[])
SMARTCAR_WEBHOOK_ID = env.str("SMARTCAR_WEBHOOK_ID", default="")
CELERY_BEAT_SCHEDULE["process-pending-webhook-events"] = {
    "task": "vehicles.tasks.process_pending_webhook_events",
    "schedule": 60,
    "options": {"expires": 60},
}

# API Authentication's application token lives an hour: beat mints the next one a quarter of an hour ahead.
if SMARTCAR_AUTH == "application":
    CELERY_BEAT_SCHEDULE["renew-application-token"] = {
        "task": "vehicles.tasks.renew_application_token",
        "schedule": 5 * 60,
        "options": {"expires": 5 * 60},
    }

# Bounds on waiting for Smartcar: each HTTP call, and all the calls one web request makes (the SDK alone would wait
# 310 seconds per call).
SMARTCAR_HTTP_TIMEOUT = env.float("SMARTCAR_HTTP_TIMEOUT", default=10.0)
SMARTCAR_WEB_TIME_BUDGET = env.float("SMARTCAR_WEB_TIME_BUDGET", default=20.0)

# Fernet keys that encrypt Smartcar tokens at rest, comma-separated: the first encrypts, all decrypt. Separate from
# SECRET_KEY so that either can be rotated alone. Generate one with
# python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"
TOKEN_ENCRYPTION_KEYS = env.list("TOKEN_ENCRYPTION_KEYS", default=[])

# The built-in Smartcar emulator, mounted under /emulator/ when on. It knows one application: these credentials
# and redirect URIs (the quick start points the SMARTCAR_* settings above at it).
SMARTCAR_EMULATOR = env.bool("SMARTCAR_EMULATOR", default=False)
# Production refuses the emulator unless this is set, as the docker `demo` profile does.
SMARTCAR_EMULATOR_ALLOWED_IN_PRODUCTION = env.bool("SMARTCAR_EMULATOR_ALLOWED_IN_PRODUCTION", default=False)
SMARTCAR_EMULATOR_CLIENT_ID = env.str("SMARTCAR_EMULATOR_CLIENT_ID", default="emulator-client-id")
SMARTCAR_EMULATOR_CLIENT_SECRET = env.str("SMARTCAR_EMULATOR_CLIENT_SECRET", default="emulator-client-secret")
SMARTCAR_EMULATOR_REDIRECT_URIS = env.list(
    "SMARTCAR_EMULATOR_REDIRECT_URIS", default=["http://localhost:8000/exchange", "http://127.0.0.1:8000/exchange"]
)
# The same application's API Authentication client (docs/emulator.md): its id, and up to three secrets valid at once,
# as Smartcar allows for rotation without downtime.
SMARTCAR_EMULATOR_API_CLIENT_ID = env.str("SMARTCAR_EMULATOR_API_CLIENT_ID", default="client_emulator")
SMARTCAR_EMULATOR_API_CLIENT_SECRETS = env.list(
    "SMARTCAR_EMULATOR_API_CLIENT_SECRETS", default=["emulator-api-client-secret"]
)
# How long a used refresh token keeps working (Smartcar documents about a minute).
SMARTCAR_EMULATOR_REFRESH_GRACE_SECONDS = env.int("SMARTCAR_EMULATOR_REFRESH_GRACE_SECONDS", default=60)
# The application's management token, which signs its webhook deliveries, and a webhook set up when the emulator
# first needs one (docs/emulator.md): its callback URL (empty: none), its id, and whether it subscribes every newly
# connected car itself (the dashboard's auto-enrollment, how API Authentication applications get cars subscribed).
SMARTCAR_EMULATOR_MANAGEMENT_TOKEN = env.str("SMARTCAR_EMULATOR_MANAGEMENT_TOKEN", default="emulator-management-token")
SMARTCAR_EMULATOR_WEBHOOK_URL = env.str("SMARTCAR_EMULATOR_WEBHOOK_URL", default="")
SMARTCAR_EMULATOR_WEBHOOK_ID = env.str("SMARTCAR_EMULATOR_WEBHOOK_ID", default="5b6e0c1e-7a53-4bd2-9d3c-2f4e8a1b6c70")
SMARTCAR_EMULATOR_WEBHOOK_AUTO_ENROLL = env.bool("SMARTCAR_EMULATOR_WEBHOOK_AUTO_ENROLL", default=False)
if SMARTCAR_EMULATOR:
    INSTALLED_APPS.append("smartcar_emulator")

# How long /healthz waits for each dependency before calling it down.
HEALTHCHECK_TIMEOUT = env.float("HEALTHCHECK_TIMEOUT", default=2.0)

LOG_LEVEL = env.str("DJANGO_LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
}
