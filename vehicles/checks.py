"""System checks: an operator's mistake in the Smartcar or encryption settings stops start-up with its name."""

from __future__ import annotations

from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import Error, Warning, register

SMARTCAR_MODES = ("test", "simulated", "live")
MINIMUM_SYNC_MINUTES = 15


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
