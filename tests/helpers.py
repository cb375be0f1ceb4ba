"""Small helpers shared by the test suites."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit


def query_of(url: str) -> dict[str, str]:
    """The query string of `url` as a dict of single values."""
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def local_path(url: str) -> str:
    """`url` without scheme and host, for Django's test client."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


# Every permission the emulator serves (the quick start asks for all of them, see config/settings/local.py).
ALL_SCOPES = [
    "read_vehicle_info",
    "read_vin",
    "read_odometer",
    "read_location",
    "read_battery",
    "read_charge",
    "read_fuel",
    "read_tires",
    "read_engine_oil",
    "read_security",
    "control_security",
    "control_charge",
]
