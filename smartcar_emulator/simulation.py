"""How a car's state moves with the clock, and how it reads in metric or imperial units."""

from __future__ import annotations

import math
from datetime import datetime

from smartcar_emulator.models import EmulatedVehicle

KM_PER_MILE = 1.609344
LITRES_PER_GALLON = 3.785411784
PSI_PER_KPA = 0.1450377
# An unplugged car drives about 30 km a day; a plugged-in one charges about 12 % of its battery an hour.
DRIVING_KM_PER_HOUR = 1.25
CHARGING_PER_HOUR = 0.12
MIN_LEVEL = 0.1


def advance(vehicle: EmulatedVehicle, *, now: datetime) -> None:
    """Move the car's state forward to `now` (never backwards: a clock moved back leaves it as it was)."""
    hours = (now - vehicle.state_updated_at).total_seconds() / 3600
    if hours <= 0:
        return
    if vehicle.is_plugged_in:
        if vehicle.is_charging and vehicle.state_of_charge is not None:
            vehicle.state_of_charge = min(1.0, vehicle.state_of_charge + CHARGING_PER_HOUR * hours)
            if vehicle.state_of_charge >= 1.0:
                vehicle.is_charging = False
    elif not vehicle.is_asleep:
        drive(vehicle, km=DRIVING_KM_PER_HOUR * hours)
    vehicle.state_updated_at = now


def drive(vehicle: EmulatedVehicle, *, km: float) -> None:
    """Drive `km`: the odometer goes up, the battery (a plug-in hybrid's first) or the tank down, the car moves."""
    vehicle.odometer_km += km
    if vehicle.powertrain == "PHEV" and vehicle.state_of_charge is not None:
        electric_km = min(km, max(0.0, (vehicle.state_of_charge - MIN_LEVEL) * vehicle.electric_range_km))
        vehicle.state_of_charge -= electric_km / vehicle.electric_range_km
        vehicle.fuel_level = max(MIN_LEVEL, vehicle.fuel_level - (km - electric_km) / vehicle.fuel_range_km)
    elif vehicle.state_of_charge is not None:
        vehicle.state_of_charge = max(MIN_LEVEL, vehicle.state_of_charge - km / vehicle.electric_range_km)
    elif vehicle.fuel_level is not None:
        vehicle.fuel_level = max(MIN_LEVEL, vehicle.fuel_level - km / vehicle.fuel_range_km)
    if vehicle.oil_life is not None:
        vehicle.oil_life = max(0.0, vehicle.oil_life - km / 15_000)
    # Wander around home a little, as a commuter would.
    vehicle.latitude += 0.002 * math.sin(vehicle.odometer_km / 7)
    vehicle.longitude += 0.002 * math.cos(vehicle.odometer_km / 7)


def lock(vehicle: EmulatedVehicle, *, locked: bool) -> None:
    vehicle.is_locked = locked


def charge(vehicle: EmulatedVehicle, *, start: bool) -> None:
    """Start or stop charging as Smartcar's test mode answers it: the command always succeeds, and the plug decides
    what happens (only a plugged-in car below full starts charging; stopping always stops)."""
    vehicle.is_charging = start and vehicle.is_plugged_in and vehicle.state_of_charge < 1.0


def distance(km: float, unit_system: str) -> float:
    return round(km / KM_PER_MILE if unit_system == "imperial" else km, 2)


def volume(litres: float, unit_system: str) -> float:
    return round(litres / LITRES_PER_GALLON if unit_system == "imperial" else litres, 2)


def pressure(kpa: float, unit_system: str) -> float:
    return round(kpa * PSI_PER_KPA if unit_system == "imperial" else kpa, 2)


def electric_range_km(vehicle: EmulatedVehicle) -> float:
    return vehicle.state_of_charge * vehicle.electric_range_km


def fuel_range_km(vehicle: EmulatedVehicle) -> float:
    return vehicle.fuel_level * vehicle.fuel_range_km


def charge_state(vehicle: EmulatedVehicle) -> str:
    if vehicle.is_charging:
        return "CHARGING"
    if vehicle.is_plugged_in and vehicle.state_of_charge >= 1.0:
        return "FULLY_CHARGED"
    return "NOT_CHARGING"
