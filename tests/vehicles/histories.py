"""Cars with a few weeks of history, made the way production makes it: the emulator's clock is set back, its cars
drive and charge along it, and the application fetches their data through the real client at each step."""

from __future__ import annotations

from collections.abc import Callable

import requests

from tests.vehicles.conftest import fetched
from vehicles.models import Vehicle

DAY = 24 * 60 * 60

# Set before Connect: the emulator creates a person's cars at its own "now".
START_DAYS_AGO = 21


def start_in_the_past(control: Callable[..., requests.Response], days: int = START_DAYS_AGO) -> None:
    """Move the emulator's clock `days` back, before the cars are connected."""
    assert control("PUT", "clock", json={"offset_seconds": -days * DAY}).ok


def live_the_weeks(control: Callable[..., requests.Response], vehicle: Vehicle, days: int = START_DAYS_AGO) -> None:
    """From `days` ago until now: the car drives (about 30 km a day), and if it is electric it is plugged in and
    charges twice, while the application fetches its data every two days and at each plug-in; the clock ends at now."""
    path = f"vehicles/{vehicle.smartcar_vehicle_id}"
    electric = control("GET", path).json().get("state_of_charge") is not None
    fetched(vehicle)
    for day in range(2, days + 1, 2):
        assert control("PUT", "clock", json={"offset_seconds": (day - days) * DAY}).ok
        if electric and day in (8, 16):
            assert control("PATCH", path, json={"is_plugged_in": True, "is_charging": True}).ok
            fetched(vehicle)
            assert control("POST", "clock", json={"advance_seconds": 5 * 60 * 60}).ok
            fetched(vehicle)
            assert control("PATCH", path, json={"is_plugged_in": False, "is_charging": False}).ok
        fetched(vehicle)
    assert control("PUT", "clock", json={"offset_seconds": 0}).ok
    fetched(vehicle)
