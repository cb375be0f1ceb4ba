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


# Why a car could not give a signal, by the error's code (or type), in the person's words. Smartcar's error types
# and codes: smartcar.com/docs/errors (VEHICLE_STATE, COMPATIBILITY, PERMISSION, ...).
UNAVAILABLE_BECAUSE = {
    "ASLEEP": "the car is asleep",
    "UNREACHABLE": "the car is out of reach",
    "REMOTE_ACCESS_DISABLED": "remote access is off in the car",
    "VEHICLE_NOT_CAPABLE": "this car cannot report it",
    "SMARTCAR_NOT_CAPABLE": "not available for this car yet",
    "MAKE_NOT_COMPATIBLE": "not available for this make",
    "COMPATIBILITY": "this car cannot report it",
    "PERMISSION": "not allowed by this connection",
    "VEHICLE_STATE": "the car cannot answer right now",
    "UPSTREAM": "the car maker did not answer",
}


# What Smartcar's VEHICLE_ERROR deliveries mean for the owner, by code (smartcar.com/docs/api-reference/webhooks/
# events/vehicle-error). An account error is a prompt to act, not proof that the connection is dead.
STATE_MESSAGES = {
    "ASLEEP": "Your car is asleep: what it last reported is shown until it wakes.",
    "UNREACHABLE": "Your car is out of reach of its mobile network right now.",
    "REMOTE_ACCESS_DISABLED": "Remote access is turned off in your car: turn it on in the car to see its data.",
    "SUBSCRIPTION": "Your car's connected-services subscription has lapsed: renew it with the car maker.",
    "AUTHENTICATION_FAILED": "Smartcar cannot sign in to your car maker's account: sign in to the maker's app, or "
    "reconnect your car.",
    "ACCOUNT_ISSUE": "Your car maker's account needs attention: open the maker's app.",
    "VIRTUAL_KEY_REQUIRED": "Your car needs a virtual key for this site: add it in the car maker's app.",
    "PERMISSION": "Your car maker's account does not allow this: check its permissions in the maker's app.",
}


def state_message(*, error_type: str, error_code: str) -> str:
    """What to tell the owner about what Smartcar last said the car cannot do; empty when all is well."""
    if not error_type and not error_code:
        return ""
    return STATE_MESSAGES.get(error_code) or "Smartcar reports a problem reading your car; it will retry by itself."


def unavailable(signal: dict) -> str:
    """ "unavailable", with the reason when the car gave one."""
    error = signal.get("error") or {}
    reason = UNAVAILABLE_BECAUSE.get(error.get("code") or "") or UNAVAILABLE_BECAUSE.get(error.get("type") or "")
    return f"unavailable ({reason})" if reason else "unavailable"


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
            facts.append(Fact(label, unavailable(signal), retrieved_at, available=False))
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
