from __future__ import annotations

from django.apps import AppConfig


class VehiclesConfig(AppConfig):
    name = "vehicles"
    verbose_name = "Vehicles"

    def ready(self) -> None:
        from vehicles import checks, fields  # noqa: F401 - registers the system checks and the key-cache reset
