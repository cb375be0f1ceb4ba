from __future__ import annotations

from django.apps import AppConfig


class SmartcarEmulatorConfig(AppConfig):
    name = "smartcar_emulator"
    verbose_name = "Smartcar emulator"

    def ready(self) -> None:
        from smartcar_emulator import checks  # noqa: F401 - registers the system checks
