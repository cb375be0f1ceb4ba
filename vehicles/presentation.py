"""What the vehicle pages show, worked out in Python: the vehicle page's facts (the stored signals turned into
labelled values in the person's units, for the permissions the connection was granted), how long ago something
happened, and the vehicles table (its one query and its rows)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from html import escape

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import connections, router
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime
from django.utils.html import avoid_wrapping
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import TIME_STRINGS, timesince

from vehicles import statements
from vehicles.models import SmartcarConnection, Vehicle

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


# --- Ages -----------------------------------------------------------------------------------------------------------

ONE_MINUTE = timedelta(minutes=1)
# Under four weeks an age is made of weeks, days, hours and minutes, which have fixed lengths; from four weeks on,
# timesince counts calendar months and years, and is left to do so.
FOUR_WEEKS = timedelta(weeks=4)
UNITS = (("week", 7 * 24 * 3600), ("day", 24 * 3600), ("hour", 3600), ("minute", 60))


@lru_cache(maxsize=1024)
def _amount(language: str | None, unit: str, count: int) -> str:
    """The words for "3 minutes" in `language`: the active one, which the lazy string translates to (a cache key)."""
    return avoid_wrapping(TIME_STRINGS[unit] % {"num": count})


@lru_cache(maxsize=64)
def _separator(language: str | None) -> str:
    return translation.gettext(", ")


def age(moment: datetime | None, now: datetime) -> str:
    """How long before `now` `moment` was, in the words of Django's timesince ("3 minutes ago", "2 days, 4 hours
    ago": at most two adjacent units), or "just now" under a minute (timesince would say "0 minutes").

    Worded here under four weeks, with the unit words translated once and kept: timesince translates its lazy
    strings on every call, which made it the largest cost of a table row."""
    return _age(moment, now, translation.get_language())


def _age(moment: datetime | None, now: datetime, language: str | None) -> str:
    if moment is None:
        return ""
    if now - moment < ONE_MINUTE:
        return "just now"
    delta = now.astimezone(moment.tzinfo) - moment  # measured as timesince measures it, on moment's clock
    if delta < FOUR_WEEKS:
        seconds = delta.days * 24 * 3600 + delta.seconds
        parts = []
        for unit, length in UNITS:
            count, seconds = divmod(seconds, length)
            if count:
                parts.append(_amount(language, unit, count))
                if len(parts) == 2:
                    break
            elif parts:
                break
        if parts:
            return f"{_separator(language).join(parts)} ago"
    return f"{timesince(moment, now)} ago"


# --- The vehicles table ---------------------------------------------------------------------------------------------
#
# The table costs one query and one pass over its rows, whatever their number:
# - The query's SQL is compiled once per thread and database (vehicles.statements.compile_once), from
#   Vehicle.objects.for_table() itself: only the owner changes from one request to the next, and the ORM building
#   and compiling the query took more CPU than fetching and printing fifty rows.
# - The rows are put together here rather than in vehicles/_table.html (which holds the rest of the table): through
#   the template engine, with a variable lookup, localisation and escape per cell, an include per badge and a URL
#   reversal per row, each row cost a hundred times what one f-string does. Every value is escaped as the template
#   would escape it (django.utils.html's escape is `html.escape`); the badge is vehicles/_status.html's HTML.

# The detail URL is reversed once per table with this stand-in, and completed with each row's primary key.
_PK_STAND_IN = "2147483647"
STATUS_LABELS = dict(SmartcarConnection.Status.choices)


def vehicles_for_table(owner: AbstractBaseUser) -> list[dict]:
    """`Vehicle.objects.filter(owner=owner).for_table()`, fetched: the same rows, in the same one query. Django has
    no converters for its columns (integers and text), so the cursor's rows are the ORM's; tests/vehicles/test_table.py
    checks that they are."""
    alias = router.db_for_read(Vehicle)
    compiled = statements.compile_once(
        ("vehicle table",), alias, lambda: Vehicle.objects.using(alias).filter(owner_id=statements.STAND_IN).for_table()
    )
    if compiled is None:
        return list(Vehicle.objects.filter(owner=owner).for_table())
    _, sql = compiled
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, [owner.pk])
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _timestamp(text: str) -> datetime:
    """A timestamp for_table() sent as text. PostgreSQL prints it with the offset of the session's time zone (Django
    sets UTC) in the ISO style psycopg insists on anyway; SQLite keeps UTC with no offset."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def status_badge(status: str) -> str:
    """A connection's status badge (with the Reconnect link where needed), as vehicles/_status.html renders it."""
    return render_to_string(
        "vehicles/_status.html", {"status": status, "status_label": STATUS_LABELS.get(status, status)}
    )


def vehicle_table_rows(vehicles: Iterable[dict], *, now: datetime | None = None) -> SafeString:
    """The table's rows as HTML, from `Vehicle.objects.for_table()` or vehicles_for_table(). What the rows share is
    worked out once: the time, time zone and language, the detail URL around the primary key, a badge per status."""
    now = now or timezone.now()
    zone = timezone.get_current_timezone()
    language = translation.get_language()
    before, _, after = reverse("vehicles:detail", args=[_PK_STAND_IN]).rpartition(_PK_STAND_IN)
    before, after = escape(before), escape(after)
    badges: dict[str, str] = {}
    rows = []
    for vehicle in vehicles:
        status, updated = vehicle["status"], _timestamp(vehicle["updated"])
        badge = badges.get(status)
        if badge is None:
            badge = badges[status] = status_badge(status)
        iso, words = updated.astimezone(zone).isoformat(), escape(_age(updated, now, language))
        rows.append(f"""
      <tr>
        <td data-label="Make"><a href="{before}{vehicle["pk"]}{after}">{escape(vehicle["make"])}</a></td>
        <td data-label="Model">{escape(vehicle["model"])}</td>
        <td data-label="Year">{vehicle["year"]}</td>
        <td data-label="Connection">{badge}</td>
        <td data-label="Last updated"><time datetime="{iso}">{words}</time></td>
      </tr>""")
    return mark_safe("".join(rows))  # noqa: S308 - every value above is escaped or comes from a template
