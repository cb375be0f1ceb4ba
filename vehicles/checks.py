"""System checks: an operator's mistake in the Smartcar or encryption settings stops start-up with its name."""

from __future__ import annotations

from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import Error, Warning, register

from vehicles.smartcar_client import ACCESS_TOKEN_LIFETIME, REFRESH_GRACE, REFRESH_TOKEN_LIFETIME

SMARTCAR_MODES = ("test", "simulated", "live")
MINIMUM_SYNC_MINUTES = 15
# Beat must adopt an orphaned refresh, and a worker reach Smartcar with it, well inside the grace.
MAXIMUM_RECOVERY_INTERVAL_SECONDS = int(REFRESH_GRACE.total_seconds()) // 2


@register()
def check_token_keys(app_configs=None, **kwargs) -> list[Error]:
    keys = settings.TOKEN_ENCRYPTION_KEYS
    if not keys:
        return [
            Error(
                "TOKEN_ENCRYPTION_KEYS is empty: Smartcar tokens cannot be stored.",
                hint='Set it to one or more Fernet keys, e.g. from python -c "from cryptography.fernet import '
                'Fernet; print(Fernet.generate_key().decode())".',
                id="vehicles.E001",
            )
        ]
    errors = []
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            # The position, never the key: check output ends up in logs.
            errors.append(
                Error(
                    f"Key {position} of TOKEN_ENCRYPTION_KEYS is not a Fernet key (32 url-safe base64-encoded bytes).",
                    id="vehicles.E002",
                )
            )
    return errors


@register()
def check_smartcar_settings(app_configs=None, **kwargs) -> list[Error]:
    errors = []
    if not settings.SMARTCAR_CLIENT_ID or not settings.SMARTCAR_CLIENT_SECRET:
        errors.append(
            Error(
                "SMARTCAR_CLIENT_ID and SMARTCAR_CLIENT_SECRET must both be set.",
                hint="They are on your application's page in the Smartcar dashboard.",
                id="vehicles.E003",
            )
        )
    redirect = urlsplit(settings.SMARTCAR_REDIRECT_URI)
    if redirect.scheme not in ("http", "https") or not redirect.netloc:
        errors.append(
            Error(
                "SMARTCAR_REDIRECT_URI must be an absolute http(s) URL ending in /exchange on this site.",
                id="vehicles.E004",
            )
        )
    if not settings.SMARTCAR_SCOPES:
        errors.append(Error("SMARTCAR_SCOPES is empty: Connect needs at least one permission.", id="vehicles.E005"))
    if 0 < settings.VEHICLE_DATA_SYNC_MINUTES < MINIMUM_SYNC_MINUTES or settings.VEHICLE_DATA_SYNC_MINUTES < 0:
        errors.append(
            Error(
                f"VEHICLE_DATA_SYNC_MINUTES must be 0 (off) or at least {MINIMUM_SYNC_MINUTES}: every fetch counts "
                "against Smartcar's per-vehicle quota.",
                id="vehicles.E007",
            )
        )
    if settings.TOKEN_REFRESH_BATCH_SIZE < 1:
        errors.append(
            Error(
                "TOKEN_REFRESH_BATCH_SIZE must be at least 1 (due connections refreshed per task).",
                id="vehicles.E008",
            )
        )
    if settings.SMARTCAR_MODE not in SMARTCAR_MODES:
        errors.append(Error(f"SMARTCAR_MODE must be one of {', '.join(SMARTCAR_MODES)}.", id="vehicles.E006"))
    return errors


@register()
def check_smartcar_auth(app_configs=None, **kwargs) -> list[Error | Warning]:
    """The auth mode must match the application (docs/operations.md, "Which auth mode is my application?")."""
    if settings.SMARTCAR_AUTH == "application":
        if settings.SMARTCAR_API_CLIENT_ID and settings.SMARTCAR_API_CLIENT_SECRET:
            return []
        return [
            Error(
                "SMARTCAR_AUTH is application, but SMARTCAR_API_CLIENT_ID or SMARTCAR_API_CLIENT_SECRET is not set.",
                hint="API Authentication's client id starts with client_; both are in the Smartcar dashboard.",
                id="vehicles.E009",
            )
        ]
    if settings.SMARTCAR_CLIENT_ID.startswith("client_"):
        return [
            Warning(
                "SMARTCAR_CLIENT_ID starts with client_, which is an API Authentication client id, while SMARTCAR_AUTH "
                "is vehicle-tokens.",
                hint="Set SMARTCAR_AUTH=application with SMARTCAR_API_CLIENT_ID/SECRET, and SMARTCAR_CLIENT_ID to the "
                "application id Connect uses.",
                id="vehicles.W001",
            )
        ]
    return []


@register()
def check_token_lifecycle(app_configs=None, **kwargs) -> list[Error]:
    """Values that would lose connections without a word: an access token expiring between two sweeps, a refresh token
    left to die, a lost answer recovered after Smartcar's grace. And a history pruned as it is written."""
    errors = []
    interval = settings.TOKEN_REFRESH_INTERVAL_MINUTES
    lead = settings.TOKEN_REFRESH_LEAD_TIME_MINUTES
    access_minutes = int(ACCESS_TOKEN_LIFETIME.total_seconds()) // 60
    if interval < 1 or not interval < lead < access_minutes:
        errors.append(
            Error(
                f"TOKEN_REFRESH_INTERVAL_MINUTES ({interval}) must be at least 1 and less than "
                f"TOKEN_REFRESH_LEAD_TIME_MINUTES ({lead}), which must be less than {access_minutes}.",
                hint="A lead time no longer than the interval lets an access token expire between two sweeps; one as "
                "long as Smartcar's 2-hour access token makes every connection due at every sweep.",
                id="vehicles.E010",
            )
        )
    max_age = settings.TOKEN_REFRESH_MAX_AGE_DAYS
    if not 1 <= max_age < REFRESH_TOKEN_LIFETIME.days:
        errors.append(
            Error(
                f"TOKEN_REFRESH_MAX_AGE_DAYS ({max_age}) must be between 1 and {REFRESH_TOKEN_LIFETIME.days - 1}: "
                f"Smartcar's refresh tokens die unused after {REFRESH_TOKEN_LIFETIME.days} days.",
                hint="Leave days to spare for an outage; the default is 50.",
                id="vehicles.E011",
            )
        )
    recovery = settings.TOKEN_RECOVERY_INTERVAL_SECONDS
    if not 1 <= recovery <= MAXIMUM_RECOVERY_INTERVAL_SECONDS:
        errors.append(
            Error(
                f"TOKEN_RECOVERY_INTERVAL_SECONDS ({recovery}) must be between 1 and "
                f"{MAXIMUM_RECOVERY_INTERVAL_SECONDS}: a refresh whose answer was lost must be made again within "
                "Smartcar's grace of about a minute.",
                id="vehicles.E012",
            )
        )
    if settings.VEHICLE_HISTORY_DAYS < 1:
        errors.append(
            Error(
                f"VEHICLE_HISTORY_DAYS ({settings.VEHICLE_HISTORY_DAYS}) must be at least 1: the hourly prune would "
                "delete every reading.",
                id="vehicles.E013",
            )
        )
    return errors
