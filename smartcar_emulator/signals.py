"""The v3 signals Smartcar defines and the emulator serves: each one's code, name, group and permission, how a car
reads it, and when a car cannot give it. The vehicle API and the webhooks read cars through these."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from smartcar_emulator import fleet, simulation
from smartcar_emulator.errors import ApiError
from smartcar_emulator.models import EmulatedVehicle

# "Is the car able to say this": a powertrain the signal belongs to (else the car does not list it at all), a feature
# only some models have (else the signal is listed with COMPATIBILITY:VEHICLE_NOT_CAPABLE).
ELECTRIC, TANK = "electric", "tank"


@dataclass(frozen=True)
class Signal:
    code: str
    name: str
    group: str
    permission: str
    read: Callable[[EmulatedVehicle, str], dict]
    powertrain: str | None = None
    feature: str | None = None
    # Read from what Smartcar already knows, without waking the car: a sleeping car still gives it.
    static: bool = False


def _length_unit(units: str) -> str:
    return "miles" if units == "imperial" else "kilometers"


def _pressure_unit(units: str) -> str:
    return "psi" if units == "imperial" else "kilopascals"


def _grid(value: Callable[[int], dict]) -> list[dict]:
    """Four places, by row and column: front row 0, left column 0."""
    return [{"row": i // 2, "column": i % 2, **value(i)} for i in range(4)]


SIGNALS = (
    Signal(
        "vehicleidentification-vin",
        "VIN",
        "VehicleIdentification",
        "read_vin",
        lambda c, u: {"value": c.vin},
        static=True,
    ),
    Signal(
        "odometer-traveleddistance",
        "TraveledDistance",
        "Odometer",
        "read_odometer",
        lambda c, u: {"unit": _length_unit(u), "value": simulation.distance(c.odometer_km, u)},
    ),
    Signal(
        "location-preciselocation",
        "PreciseLocation",
        "Location",
        "read_location",
        lambda c, u: {"latitude": round(c.latitude, 6), "longitude": round(c.longitude, 6)},
    ),
    Signal(
        "tractionbattery-stateofcharge",
        "StateOfCharge",
        "TractionBattery",
        "read_battery",
        lambda c, u: {"unit": "percent", "value": round(c.state_of_charge * 100, 1)},
        ELECTRIC,
    ),
    Signal(
        "tractionbattery-range",
        "Range",
        "TractionBattery",
        "read_battery",
        lambda c, u: {"unit": _length_unit(u), "value": simulation.distance(simulation.electric_range_km(c), u)},
        ELECTRIC,
    ),
    Signal(
        "tractionbattery-nominalcapacity",
        "NominalCapacity",
        "TractionBattery",
        "read_battery",
        lambda c, u: {"unit": "kilowattHours", "value": c.battery_capacity_kwh},
        ELECTRIC,
        static=True,
    ),
    Signal(
        "charge-ischarging",
        "IsCharging",
        "Charge",
        "read_charge",
        lambda c, u: {"value": c.is_charging},
        ELECTRIC,
    ),
    Signal(
        "charge-ischargingcableconnected",
        "IsChargingCableConnected",
        "Charge",
        "read_charge",
        lambda c, u: {"value": c.is_plugged_in},
        ELECTRIC,
    ),
    Signal(
        "charge-amperage",
        "Amperage",
        "Charge",
        "read_charge",
        lambda c, u: {"unit": "amperes", "value": 32 if c.is_charging else 0},
        ELECTRIC,
    ),
    Signal(
        "charge-voltage",
        "Voltage",
        "Charge",
        "read_charge",
        lambda c, u: {"unit": "volts", "value": 230 if c.is_charging else 0},
        ELECTRIC,
    ),
    Signal(
        "internalcombustionengine-fuellevel",
        "FuelLevel",
        "InternalCombustionEngine",
        "read_fuel",
        lambda c, u: {"unit": "percent", "value": round(c.fuel_level * 100, 1)},
        TANK,
    ),
    Signal(
        "internalcombustionengine-range",
        "Range",
        "InternalCombustionEngine",
        "read_fuel",
        lambda c, u: {"unit": _length_unit(u), "value": simulation.distance(simulation.fuel_range_km(c), u)},
        TANK,
    ),
    Signal(
        "internalcombustionengine-amountremaining",
        "AmountRemaining",
        "InternalCombustionEngine",
        "read_fuel",
        lambda c, u: {
            "unit": "gallons" if u == "imperial" else "liters",
            "value": simulation.volume(c.fuel_level * c.tank_litres, u),
        },
        TANK,
    ),
    Signal(
        "internalcombustionengine-oillife",
        "OilLife",
        "InternalCombustionEngine",
        "read_engine_oil",
        lambda c, u: {"unit": "percent", "value": round(c.oil_life * 100)},
        TANK,
    ),
    Signal("closure-islocked", "IsLocked", "Closure", "read_security", lambda c, u: {"value": c.is_locked}),
    Signal(
        "closure-doors",
        "Doors",
        "Closure",
        "read_security",
        lambda c, u: {
            "values": _grid(lambda i: {"isOpen": False, "isLocked": c.is_locked}),
            "rowCount": 2,
            "columnCount": 2,
        },
    ),
    Signal(
        "closure-windows",
        "Windows",
        "Closure",
        "read_security",
        lambda c, u: {"values": _grid(lambda i: {"isOpen": False}), "rowCount": 2, "columnCount": 2},
    ),
    Signal(
        "closure-sunroof",
        "Sunroof",
        "Closure",
        "read_security",
        lambda c, u: {"isOpen": False},
        feature="sunroof",
    ),
    Signal(
        "closure-fronttrunk",
        "FrontTrunk",
        "Closure",
        "read_security",
        lambda c, u: {"isOpen": False, "isLocked": c.is_locked},
        feature="front_trunk",
    ),
    Signal(
        "closure-reartrunk",
        "RearTrunk",
        "Closure",
        "read_security",
        lambda c, u: {"isOpen": False, "isLocked": c.is_locked},
    ),
    Signal(
        "wheel-tires",
        "Tires",
        "Wheel",
        "read_tires",
        lambda c, u: {
            "unit": _pressure_unit(u),
            "values": _grid(lambda i: {"tirePressure": simulation.pressure(c.tire_pressures_kpa[i], u)}),
        },
    ),
    Signal(
        "lowvoltagebattery-stateofcharge",
        "StateOfCharge",
        "LowVoltageBattery",
        "read_battery",
        lambda c, u: {"unit": "percent", "value": 88},
    ),
)
BY_CODE = {signal.code: signal for signal in SIGNALS}


def listed(car: EmulatedVehicle, signal: Signal) -> bool:
    """Whether the car has the signal at all: a petrol car lists no battery, an electric one no fuel."""
    if signal.powertrain == ELECTRIC:
        return car.is_electric
    if signal.powertrain == TANK:
        return car.has_tank
    return True


def unavailable(car: EmulatedVehicle, signal: Signal) -> ApiError | None:
    """Why a car that lists the signal cannot give it now (a model without the feature, a sleeping car), or None."""
    if signal.feature and not fleet.has_feature(car, signal.feature):
        return ApiError("COMPATIBILITY", "VEHICLE_NOT_CAPABLE")
    if car.is_asleep and not signal.static:
        return ApiError("VEHICLE_STATE", "ASLEEP")
    return None


def epoch_ms(moment: datetime) -> int:
    """v3 timestamps are epoch milliseconds (SMARTCAR.md §4b; e.g. 1752104218549 in the Java SDK's fixtures)."""
    return int(moment.timestamp() * 1000)
