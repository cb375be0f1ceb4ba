"""What the vehicle pages show, worked out in Python: the stored signals turned into labelled values in the person's
units, for the permissions the connection was granted and the signals the car has; the garage overview's glance at
each car; the commands that make sense in the car's state; and Smartcar's errors in a driver's words."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from django.urls import reverse
from django.utils.dateparse import parse_datetime

from vehicles.models import VehicleCommand

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


def kilometers(body: dict) -> float:
    """A distance signal's body (kilometers, or miles where the car says so) in kilometers."""
    value = float(body["value"])
    return value * KM_PER_MILE if body.get("unit") == "miles" else value


def _distance(body: dict, units: str) -> str:
    return distance_text(kilometers(body), units)


def distance_text(kilometers: float, units: str) -> str:
    """A distance in the person's units, to the kilometre or mile."""
    if units == "imperial":
        return f"{kilometers / KM_PER_MILE:,.0f} mi"
    return f"{kilometers:,.0f} km"


def percent_text(value: float) -> str:
    return f"{value:.0f} %"


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
    return percent_text(float(body["value"]))


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


def _coarse_location(body: dict, units: str) -> str:
    # Two decimals: about a kilometre, the town or the district, not the street.
    return f"{float(body['latitude']):.2f}, {float(body['longitude']):.2f} (to about a kilometre)"


LOCATION_SIGNAL = "location-preciselocation"


def map_url(body: dict) -> str:
    """OpenStreetMap centred on the car, with a marker on it."""
    latitude, longitude = f"{float(body['latitude']):.5f}", f"{float(body['longitude']):.5f}"
    query = urlencode({"mlat": latitude, "mlon": longitude})
    return f"https://www.openstreetmap.org/?{query}#map=16/{latitude}/{longitude}"


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


def vehicle_facts(*, data: dict, scopes: list[str], units: str, precise_location: bool = True) -> list[Fact]:
    """What to show: a fact for every signal the grant allows and the car reported; a signal the car does not have
    (fuel on an electric car) is left out, and so is everything before the car first reported. Without
    `precise_location` (support staff), the location is rounded to about a kilometre."""
    signals = data.get("signals", {})
    facts = []
    for label, code, permission, show in FACTS:
        if permission not in scopes:
            continue
        signal = signals.get(code)
        if signal is None:
            continue
        if code == LOCATION_SIGNAL and not precise_location:
            show = _coarse_location
        value, available = _shown(signal, show, units)
        facts.append(Fact(label, value, _reported(signal), available=available))
    return facts


def _shown(signal: dict, show, units: str) -> tuple[str, bool]:
    """A stored signal as `show` writes it, and whether the car gave it: "unavailable" (with the car's reason) for a
    signal the car could not give, plain "unavailable" for a body `show` cannot read."""
    if signal.get("status") != "SUCCESS":
        return unavailable(signal), False
    try:
        return show(signal.get("body") or {}, units), True
    except (KeyError, TypeError, ValueError):
        return "unavailable", False


def reconnect_path(vehicle) -> str:
    """Where to send someone to reconnect a car (a Vehicle): Connect opened at the car's make, and back to the car
    afterwards; without a car, plain Connect."""
    if vehicle is None:
        return reverse("connect")
    query = urlencode({"make": vehicle.make, "next": reverse("vehicles:detail", args=[vehicle.pk])})
    return f"{reverse('connect')}?{query}"


def _value(signals: dict, code: str) -> object:
    """A signal's value if the car gave it, else None."""
    signal = signals.get(code) or {}
    return (signal.get("body") or {}).get("value") if signal.get("status") == "SUCCESS" else None


def _reported(signal: dict) -> datetime | None:
    return parse_datetime(signal["retrieved_at"]) if signal.get("retrieved_at") else None


@dataclass(frozen=True)
class Glance:
    """One fact of the garage overview."""

    label: str
    value: str
    available: bool = True
    # A level in percent, also drawn as a meter.
    percent: float | None = None
    # Where the value links to (the map).
    url: str = ""


# The overview's facts: (label, signal code, permission, how to show it).
GLANCES = (
    ("Battery", "tractionbattery-stateofcharge", "read_battery", _percent),
    ("Fuel", "internalcombustionengine-fuellevel", "read_fuel", _percent),
    ("Range", "tractionbattery-range", "read_battery", _distance),
    ("Range", "internalcombustionengine-range", "read_fuel", _distance),
    ("Doors", "closure-islocked", "read_security", _yes_no("Locked", "Unlocked")),
    ("Charging", "charge-ischarging", "read_charge", _yes_no("Charging", "Not charging")),
    ("Location", LOCATION_SIGNAL, "read_location", _location),
)


def glance(*, signals: dict, scopes: list[str], units: str) -> list[Glance]:
    """The garage overview of one car: level, range, locks, charging and location, each only if the grant allows it
    and the car has it. `signals` holds at least the overview's signals (VehicleQuerySet.for_table)."""
    glances = []
    both_ranges = all(signals.get(code) for code in ("tractionbattery-range", "internalcombustionengine-range"))
    for label, code, permission, show in GLANCES:
        signal = signals.get(code)
        if permission not in scopes or not signal:
            continue
        if both_ranges and label == "Range":
            # A plug-in hybrid: two ranges, told apart.
            label = "Electric range" if code.startswith("traction") else "Fuel range"
        value, available = _shown(signal, show, units)
        if not available:
            glances.append(Glance(label, value, available=False))
            continue
        # `show` has read the body: the level and the coordinates below are numbers.
        body = signal.get("body") or {}
        if code == "charge-ischarging" and not body.get("value"):
            plugged = _value(signals, "charge-ischargingcableconnected")
            value = {True: "Plugged in", False: "Unplugged"}.get(plugged, value)
        percent = float(body["value"]) if show is _percent else None
        url = map_url(body) if code == LOCATION_SIGNAL else ""
        glances.append(Glance(label, value, percent=percent, url=url))
    return glances


def last_reported(signals: dict) -> datetime | None:
    """When the car last reported any of these signals (its own time), or None."""
    return max(filter(None, (_reported(signal) for signal in signals.values() if signal)), default=None)


@dataclass(frozen=True)
class Offer:
    """A command offered on the vehicle page, named as the command's choices name it."""

    action: str

    @property
    def label(self) -> str:
        return VehicleCommand.Action(self.action).label


def offered_commands(*, signals: dict, scopes: list[str]) -> tuple[list[Offer], list[str]]:
    """The commands that make sense in the car's last known state, and why the others are not offered. Locks: the
    opposite of the car's state (both while it is unknown). Charging: start when plugged in and not charging, stop
    when charging; neither for a car without charging signals or while it is unplugged."""
    offers, notes = [], []
    if "control_security" in scopes:
        locked = _value(signals, "closure-islocked")
        if locked is not True:
            offers.append(Offer("lock"))
        if locked is not False:
            offers.append(Offer("unlock"))
    if "control_charge" in scopes and "charge-ischarging" in signals:
        charging = _value(signals, "charge-ischarging")
        plugged = _value(signals, "charge-ischargingcableconnected")
        if charging is True:
            offers.append(Offer("stop_charge"))
        elif plugged is False:
            notes.append("Plug the car in to start charging it from here.")
        else:
            offers.append(Offer("start_charge"))
            if charging is None:
                offers.append(Offer("stop_charge"))
    return offers, notes


# What a command that went through did, for the person (Smartcar's own answer is not written for them).
COMMAND_DONE = {
    "lock": "Your car is locked.",
    "unlock": "Your car is unlocked.",
    "start_charge": "Your car started charging.",
    "stop_charge": "Your car stopped charging.",
}


# Every error Smartcar documents (smartcar.com/docs/api-reference/api-errors and the pages under
# smartcar.com/docs/errors/api-errors), in a driver's words, by (type, code); a type alone is the fallback for a code
# Smartcar adds later. Smartcar's own suggestedUserMessage is not used: it names "<app name>" and is written for
# developers to adapt.
SMARTCAR_ERRORS = {
    ("AUTHENTICATION", ""): "Smartcar did not accept this connection. Reconnect your car.",
    ("BILLING", "INVALID_PLAN"): "This site's Smartcar plan does not include that. We have been told.",
    ("BILLING", "VEHICLE_LIMIT"): "This site has reached the number of cars its Smartcar plan allows. We have been "
    "told.",
    ("BILLING", "VEHICLE_REQUEST_LIMIT"): "Your car has used up this month's requests on this site's Smartcar plan. "
    "Try again next month.",
    ("BILLING", "ACCOUNT_SUSPENDED"): "This site's Smartcar account is suspended. We have been told.",
    ("COMPATIBILITY", "MAKE_NOT_COMPATIBLE"): "Smartcar cannot do that for cars of this make.",
    ("COMPATIBILITY", "SMARTCAR_NOT_CAPABLE"): "Smartcar cannot do that for this car yet.",
    ("COMPATIBILITY", "VEHICLE_NOT_CAPABLE"): "Your car cannot do that.",
    ("COMPATIBILITY", "PLATFORM_NOT_CAPABLE"): "Smartcar cannot do that for this car's model.",
    ("CONNECTED_SERVICES_ACCOUNT", "ACCOUNT_ISSUE"): "Your car maker's account needs attention: sign in to the "
    "maker's app and accept any new terms.",
    ("CONNECTED_SERVICES_ACCOUNT", "AUTHENTICATION_FAILED"): "Smartcar cannot sign in to your car maker's account: "
    "reconnect your car with the maker's current password.",
    ("CONNECTED_SERVICES_ACCOUNT", "NO_VEHICLES"): "Your car maker's account no longer lists any car.",
    ("CONNECTED_SERVICES_ACCOUNT", "PERMISSION"): "Your car maker's account does not allow that: check the "
    "permissions in the maker's app.",
    ("CONNECTED_SERVICES_ACCOUNT", "SUBSCRIPTION"): "Your car's connected-services subscription has lapsed: renew it "
    "with the car maker.",
    ("CONNECTED_SERVICES_ACCOUNT", "VEHICLE_MISSING"): "This car is no longer in your car maker's account.",
    ("CONNECTED_SERVICES_ACCOUNT", "VIRTUAL_KEY_REQUIRED"): "Your car needs a virtual key for this site: add it in "
    "the car maker's app.",
    ("PERMISSION", ""): "This connection does not allow that. Reconnect your car to give the missing permission.",
    ("RATE_LIMIT", "SMARTCAR_API"): "Smartcar is busy with this site's requests. Try again in a few minutes.",
    ("RATE_LIMIT", "VEHICLE"): "Your car has been asked too often lately.",
    ("RESOURCE_NOT_FOUND", "PATH"): "Smartcar cannot do that. We have been told.",
    ("RESOURCE_NOT_FOUND", "VERSION"): "Smartcar cannot do that. We have been told.",
    ("SERVER", "INTERNAL"): "Smartcar had a problem. Try again in a few minutes.",
    ("SERVER", "MULTIPLE_RECORDS_FOUND"): "Smartcar had a problem finding your car. Try again in a few minutes.",
    ("SERVER", "RECORD_NOT_FOUND"): "Smartcar has no record of that for your car.",
    ("UPSTREAM", "INVALID_DATA"): "Your car maker sent something Smartcar could not read. Try again later.",
    ("UPSTREAM", "KNOWN_ISSUE"): "Your car maker's service has a known problem. Try again later.",
    ("UPSTREAM", "NO_RESPONSE"): "Your car maker's service did not answer. Try again in a few minutes.",
    ("UPSTREAM", "RATE_LIMIT"): "Your car maker asks for fewer requests to your car. Try again later.",
    ("UPSTREAM", "UNKNOWN_ISSUE"): "Your car maker's service had a problem. Try again later.",
    ("VALIDATION", ""): "Smartcar refused the request. We have been told.",
    ("VALIDATION", "PARAMETER"): "Smartcar refused the request. We have been told.",
    ("VEHICLE_STATE", "ASLEEP"): "Your car is asleep and did not answer. Start it, or wait until it is next used.",
    ("VEHICLE_STATE", "CHARGING_IN_PROGRESS"): "Your car is already charging.",
    ("VEHICLE_STATE", "CHARGING_PLUG_CONNECTED"): "Your car is plugged in: unplug it first.",
    ("VEHICLE_STATE", "CHARGING_PLUG_NOT_CONNECTED"): "Your car is not plugged in: plug it in to charge.",
    ("VEHICLE_STATE", "CHARGE_FAULT"): "Your car is plugged in but cannot charge: check the charger.",
    ("VEHICLE_STATE", "DOOR_OPEN"): "A door is open: close it and try again.",
    ("VEHICLE_STATE", "FULLY_CHARGED"): "Your car is fully charged.",
    ("VEHICLE_STATE", "HOOD_OPEN"): "The bonnet is open: close it and try again.",
    ("VEHICLE_STATE", "IGNITION_ON"): "Your car is switched on: switch it off and try again.",
    ("VEHICLE_STATE", "IN_MOTION"): "Your car is moving: try again once it is parked.",
    ("VEHICLE_STATE", "LOW_BATTERY"): "Your car's battery is too low for that.",
    ("VEHICLE_STATE", "NOT_CHARGING"): "Your car is not charging, so there is nothing to stop.",
    ("VEHICLE_STATE", "REMOTE_ACCESS_DISABLED"): "Remote access is turned off in your car: turn it on in the car.",
    ("VEHICLE_STATE", "TRUNK_OPEN"): "The boot is open: close it and try again.",
    ("VEHICLE_STATE", "UNKNOWN"): "Your car could not do that just now. Try again in a few minutes.",
    ("VEHICLE_STATE", "UNREACHABLE"): "Your car is out of reach of its mobile network. Try again once it has signal.",
    ("VEHICLE_STATE", "VEHICLE_OFFLINE_FOR_SERVICE"): "Your car is offline for servicing.",
    ("VEHICLE_STATE", "HOT_TEMPERATURE"): "It is too hot for your car to do that now.",
    ("VEHICLE_STATE", "COLD_TEMPERATURE"): "It is too cold for your car to do that now.",
    # The fallbacks, for a code not listed above.
    ("AUTHENTICATION", None): "Smartcar did not accept this connection. Reconnect your car.",
    ("BILLING", None): "This site's Smartcar plan does not allow that now. We have been told.",
    ("COMPATIBILITY", None): "Your car cannot do that through Smartcar.",
    ("CONNECTED_SERVICES_ACCOUNT", None): "Your car maker's account needs attention: open the maker's app.",
    ("PERMISSION", None): "This connection does not allow that. Reconnect your car to give the missing permission.",
    ("RATE_LIMIT", None): "Your car has been asked too often lately.",
    ("RESOURCE_NOT_FOUND", None): "Smartcar cannot do that. We have been told.",
    ("SERVER", None): "Smartcar had a problem. Try again in a few minutes.",
    ("UPSTREAM", None): "Your car maker's service had a problem. Try again later.",
    ("VALIDATION", None): "Smartcar refused the request. We have been told.",
    ("VEHICLE_STATE", None): "Your car could not do that in its current state. Try again later.",
}


def smartcar_error_message(*, error_type: str | None, code: str | None) -> str | None:
    """What to tell a driver about an error Smartcar answered with, or None for one Smartcar did not type."""
    if not error_type:
        return None
    return SMARTCAR_ERRORS.get((error_type, code or "")) or SMARTCAR_ERRORS.get((error_type, None))
