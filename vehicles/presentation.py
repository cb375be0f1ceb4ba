"""What the vehicle page shows, worked out in Python: its facts, the stored signals turned into labelled values in
the person's units, for the permissions the connection was granted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils.dateparse import parse_datetime

KM_PER_MILE = 1.609344
KPA_PER_PSI = 6.894757
POSITIONS = {(0, 0): "front left", (0, 1): "front right", (1, 0): "rear left", (1, 1): "rear right"}


@dataclass(frozen=True)
class Fact:
    label: str
    value: str
    # When the car reported it (None: never fetched); `available` False means the car could not say.
    retrieved_at: datetime | None
    available: bool = True


def _distance(body: dict, units: str) -> str:
    value, unit = float(body["value"]), body.get("unit", "kilometers")
    kilometers = value * KM_PER_MILE if unit == "miles" else value
    if units == "imperial":
        return f"{kilometers / KM_PER_MILE:,.0f} mi"
    return f"{kilometers:,.0f} km"


def _pressure(kilopascals: float, units: str) -> str:
    return f"{kilopascals / KPA_PER_PSI:.1f} psi" if units == "imperial" else f"{kilopascals:.0f} kPa"


def _tires(body: dict, units: str) -> str:
    in_psi = body.get("unit") == "psi"
    parts = []
    for tire in body.get("values", []):
        pressure = float(tire["tirePressure"])
        kilopascals = pressure * KPA_PER_PSI if in_psi else pressure
        place = POSITIONS.get((tire.get("row"), tire.get("column")), "tire")
        parts.append(f"{place} {_pressure(kilopascals, units)}")
    return ", ".join(parts)


def _percent(body: dict, units: str) -> str:
    return f"{float(body['value']):.0f} %"


def _yes_no(yes: str, no: str):
    return lambda body, units: yes if body.get("value") else no


def _openings(noun: str):
    def describe(body: dict, units: str) -> str:
        values = body.get("values", [])
        open_ones = [
            POSITIONS.get((item.get("row"), item.get("column")), noun) for item in values if item.get("isOpen")
        ]
        if not values:
            return "unknown"
        return f"{', '.join(open_ones)} open" if open_ones else f"all {len(values)} closed"

    return describe


def _location(body: dict, units: str) -> str:
    return f"{float(body['latitude']):.5f}, {float(body['longitude']):.5f}"


def _text(body: dict, units: str) -> str:
    return str(body.get("value", ""))


# (label, signal code, permission it needs, how to show it), in page order.
FACTS = (
    ("VIN", "vehicleidentification-vin", "read_vin", _text),
    ("Odometer", "odometer-traveleddistance", "read_odometer", _distance),
    ("Battery", "tractionbattery-stateofcharge", "read_battery", _percent),
    ("Electric range", "tractionbattery-range", "read_battery", _distance),
    ("Fuel", "internalcombustionengine-fuellevel", "read_fuel", _percent),
    ("Fuel range", "internalcombustionengine-range", "read_fuel", _distance),
    ("Charging", "charge-ischarging", "read_charge", _yes_no("Charging", "Not charging")),
    ("Charging cable", "charge-ischargingcableconnected", "read_charge", _yes_no("Plugged in", "Unplugged")),
    ("Location", "location-preciselocation", "read_location", _location),
    ("Locks", "closure-islocked", "read_security", _yes_no("Locked", "Unlocked")),
    ("Doors", "closure-doors", "read_security", _openings("door")),
    ("Windows", "closure-windows", "read_security", _openings("window")),
    ("Tire pressure", "wheel-tires", "read_tires", _tires),
    ("Engine oil life", "internalcombustionengine-oillife", "read_engine_oil", _percent),
)


def vehicle_facts(*, data: dict, scopes: list[str], units: str, fetched: bool) -> list[Fact]:
    """What to show: a fact for every signal the grant allows and the car reported. Before the first fetch, the
    granted facts are listed as not fetched yet; afterwards, a signal the car does not have is left out."""
    signals = data.get("signals", {})
    facts = []
    for label, code, permission, show in FACTS:
        if permission not in scopes:
            continue
        signal = signals.get(code)
        if signal is None:
            if not fetched:
                facts.append(Fact(label, "not fetched yet", None, available=False))
            continue
        retrieved_at = parse_datetime(signal["retrieved_at"]) if signal.get("retrieved_at") else None
        if signal.get("status") != "SUCCESS":
            facts.append(Fact(label, "unavailable", retrieved_at, available=False))
            continue
        try:
            value = show(signal.get("body") or {}, units)
        except (KeyError, TypeError, ValueError):
            facts.append(Fact(label, "unavailable", retrieved_at, available=False))
            continue
        facts.append(Fact(label, value, retrieved_at))
    return facts


def can_charge(data: dict) -> bool:
    """Whether the car reported charging signals (an EV or a plug-in hybrid)."""
    return "charge-ischarging" in data.get("signals", {})
