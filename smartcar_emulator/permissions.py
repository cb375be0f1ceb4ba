"""The permissions (scopes) the emulator knows, what they say on the Connect page, and which cars support them."""

from __future__ import annotations

import re

from smartcar_emulator.models import EmulatedVehicle

# Smartcar has more permissions than the emulator serves; those are accepted and granted, but no endpoint uses them.
PERMISSION_NAME = re.compile(r"^(read|control)_[a-z_]+$")

PERMISSIONS: dict[str, str] = {
    "read_vehicle_info": "Know make, model, and year",
    "read_vin": "Read VIN",
    "read_odometer": "Retrieve total distance traveled",
    "read_location": "Access the vehicle's location",
    "read_battery": "Read the high voltage battery's state of charge and range",
    "read_charge": "Know whether the vehicle is charging",
    "read_fuel": "Read fuel tank level and range",
    "read_tires": "Read tire pressure",
    "read_engine_oil": "Read engine oil health",
    "read_security": "Know whether the vehicle is locked or unlocked",
    "control_security": "Lock or unlock the vehicle",
    "control_charge": "Start or stop the vehicle's charging",
}

ELECTRIC_ONLY = {"read_battery", "read_charge", "control_charge"}
TANK_ONLY = {"read_fuel", "read_engine_oil"}


def parse_scope(raw: str) -> tuple[list[str], list[str], list[str]]:
    """Split Connect's space-separated scope into (all, required, malformed) permission names."""
    names, required, unknown = [], [], []
    for item in raw.split():
        is_required = item.startswith("required:")
        name = item.removeprefix("required:")
        if not PERMISSION_NAME.match(name):
            unknown.append(name)
            continue
        if name not in names:
            names.append(name)
        if is_required and name not in required:
            required.append(name)
    return names, required, unknown


def supports(vehicle: EmulatedVehicle, permission: str) -> bool:
    if permission in ELECTRIC_ONLY:
        return vehicle.is_electric
    if permission in TANK_ONLY:
        return vehicle.has_tank
    return True


def describe(permission: str) -> str:
    return PERMISSIONS.get(permission, permission.replace("_", " ").capitalize())
