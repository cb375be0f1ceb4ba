"""System checks: the emulator must not be mounted in production by accident, and its application must be one Smartcar
could have."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, register

from smartcar_emulator.services import MAX_API_CLIENT_SECRETS


@register()
def emulator_not_in_production(app_configs, **kwargs) -> list[Error]:
    if (
        getattr(settings, "SMARTCAR_EMULATOR", False)
        and getattr(settings, "PRODUCTION", False)
        and not getattr(settings, "SMARTCAR_EMULATOR_ALLOWED_IN_PRODUCTION", False)
    ):
        return [
            Error(
                "The Smartcar emulator is mounted in production: anyone could mint tokens for fake cars.",
                hint="Unset SMARTCAR_EMULATOR, or set SMARTCAR_EMULATOR_ALLOWED_IN_PRODUCTION=True for a demo.",
                id="smartcar_emulator.E001",
            )
        ]
    return []


@register()
def api_client_secrets(app_configs, **kwargs) -> list[Error]:
    secrets = getattr(settings, "SMARTCAR_EMULATOR_API_CLIENT_SECRETS", [])
    if getattr(settings, "SMARTCAR_EMULATOR", False) and not 1 <= len(secrets) <= MAX_API_CLIENT_SECRETS:
        return [
            Error(
                f"SMARTCAR_EMULATOR_API_CLIENT_SECRETS holds {len(secrets)} secrets: Smartcar allows one to "
                f"{MAX_API_CLIENT_SECRETS} at once.",
                hint="List the secrets still in use, comma-separated, newest first.",
                id="smartcar_emulator.E002",
            )
        ]
    return []
