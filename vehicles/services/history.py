"""History: the signals that change (battery and fuel level, ranges, odometer, charging) kept as one reading each
time one of them changes, whether a fetch or a webhook push brought it; read back for the vehicle page's charts;
pruned after VEHICLE_HISTORY_DAYS."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from vehicles.models import Reading, Vehicle
from vehicles.presentation import kilometers

logger = logging.getLogger(__name__)


def _percent(body: dict) -> float:
    # Whole percents: a car that reports tenths would otherwise make a reading at every fetch.
    return float(round(float(body["value"])))


def _kilometres(body: dict) -> float:
    return float(round(kilometers(body)))


def _flag(body: dict) -> bool:
    value = body["value"]
    if not isinstance(value, bool):
        raise TypeError("not a boolean")
    return value


# Reading field -> the signal it comes from and how to read the signal's body.
TRACKED: dict[str, tuple[str, Callable[[dict], float | bool]]] = {
    "battery_percent": ("tractionbattery-stateofcharge", _percent),
    "fuel_percent": ("internalcombustionengine-fuellevel", _percent),
    "electric_range_km": ("tractionbattery-range", _kilometres),
    "fuel_range_km": ("internalcombustionengine-range", _kilometres),
    "odometer_km": ("odometer-traveleddistance", _kilometres),
    "charging": ("charge-ischarging", _flag),
}


def tracked_values(signals: dict) -> dict[str, float | bool | None]:
    """The tracked values in a stored snapshot's signals; None for one the car did not give."""
    values: dict[str, float | bool | None] = {}
    for field, (code, read) in TRACKED.items():
        signal = signals.get(code) or {}
        try:
            values[field] = read(signal.get("body") or {}) if signal.get("status") == "SUCCESS" else None
        except (KeyError, TypeError, ValueError):
            values[field] = None
    return values


def _reported_at(signal: dict) -> datetime | None:
    moment = signal.get("oem_updated_at") or signal.get("retrieved_at")
    return parse_datetime(moment) if isinstance(moment, str) else None


def record_change(*, vehicle: Vehicle, before: dict, after: dict) -> Reading | None:
    """After the vehicle's signals went from `before` to `after` (stored snapshots' signals), a reading if a tracked
    value changed. A value the car could not give this time (asleep, out of reach) is not a change: the reading keeps
    the one it last gave."""
    old, new = tracked_values(before), tracked_values(after)
    changed = [field for field, value in new.items() if value is not None and value != old[field]]
    if not changed:
        return None
    values = {field: old[field] if value is None else value for field, value in new.items()}
    times = [_reported_at(after.get(TRACKED[field][0]) or {}) for field in changed]
    recorded_at = max((moment for moment in times if moment is not None), default=None) or timezone.now()
    return Reading.objects.create(vehicle=vehicle, recorded_at=recorded_at, **values)


# What a chart needs of a reading.
CHARTED = ("recorded_at", *TRACKED)


def recent(*, vehicle: Vehicle, days: int) -> list[tuple]:
    """The vehicle's readings of the last `days` days, oldest first, in one query, as named tuples of CHARTED: a month
    of hourly readings is 720 rows, and model instances cost the page more than the charts drawn from them."""
    since = timezone.now() - timedelta(days=days)
    readings = vehicle.readings.filter(recorded_at__gte=since).order_by("recorded_at", "pk")
    return list(readings.values_list(*CHARTED, named=True))


def prune() -> int:
    """Forget readings older than VEHICLE_HISTORY_DAYS; how many."""
    cutoff = timezone.now() - timedelta(days=settings.VEHICLE_HISTORY_DAYS)
    deleted, _ = Reading.objects.filter(recorded_at__lt=cutoff).delete()
    logger.info("history pruned readings=%d", deleted)
    return deleted
