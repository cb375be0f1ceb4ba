"""System checks: the emulator must not be mounted in production by accident."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, register


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
