"""Vehicle API v3: the vehicle resource and its signals, from the same cars and grants as v2."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse

from smartcar_emulator import clock, simulation
from smartcar_emulator.api import Call, api_view, fresh_state, gate, json_response, require_permission
from smartcar_emulator.errors import ApiError
from smartcar_emulator.models import EmulatedVehicle
from smartcar_emulator.permissions import supports

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class Signal:
    code: str
    name: str
    group: str
    permission: str
    read: Callable[[EmulatedVehicle, str], dict]
    # Which cars have it: None means every car.
    needs: str | None = None


def _length_unit(units: str) -> str:
    return "miles" if units == "imperial" else "kilometers"


def _pressure_unit(units: str) -> str:
    return "psi" if units == "imperial" else "kilopascals"


SIGNALS = (
    Signal("vehicleidentification-vin", "VIN", "VehicleIdentification", "read_vin", lambda c, u: {"value": c.vin}),
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
        "electric",
    ),
    Signal(
        "tractionbattery-range",
        "Range",
        "TractionBattery",
        "read_battery",
        lambda c, u: {"unit": _length_unit(u), "value": simulation.distance(simulation.electric_range_km(c), u)},
        "electric",
    ),
    Signal(
        "tractionbattery-nominalcapacity",
        "NominalCapacity",
        "TractionBattery",
        "read_battery",
        lambda c, u: {"unit": "kilowattHours", "value": c.battery_capacity_kwh},
        "electric",
    ),
    Signal(
        "charge-ischarging",
        "IsCharging",
        "Charge",
        "read_charge",
        lambda c, u: {"value": c.is_charging},
        "electric",
    ),
    Signal(
        "charge-ischargingcableconnected",
        "IsChargingCableConnected",
        "Charge",
        "read_charge",
        lambda c, u: {"value": c.is_plugged_in},
        "electric",
    ),
    Signal(
        "charge-amperage",
        "Amperage",
        "Charge",
        "read_charge",
        lambda c, u: {"unit": "amperes", "value": 32 if c.is_charging else 0},
        "electric",
    ),
    Signal(
        "charge-voltage",
        "Voltage",
        "Charge",
        "read_charge",
        lambda c, u: {"unit": "volts", "value": 230 if c.is_charging else 0},
        "electric",
    ),
    Signal(
        "internalcombustionengine-fuellevel",
        "FuelLevel",
        "InternalCombustionEngine",
        "read_fuel",
        lambda c, u: {"unit": "percent", "value": round(c.fuel_level * 100, 1)},
        "tank",
    ),
    Signal(
        "internalcombustionengine-range",
        "Range",
        "InternalCombustionEngine",
        "read_fuel",
        lambda c, u: {"unit": _length_unit(u), "value": simulation.distance(simulation.fuel_range_km(c), u)},
        "tank",
    ),
    Signal(
        "internalcombustionengine-oillife",
        "OilLife",
        "InternalCombustionEngine",
        "read_engine_oil",
        lambda c, u: {"unit": "percent", "value": round(c.oil_life * 100)},
        "tank",
    ),
    Signal(
        "closure-islocked",
        "IsLocked",
        "Closure",
        "read_security",
        lambda c, u: {"value": c.is_locked},
    ),
    Signal(
        "closure-doors",
        "Doors",
        "Closure",
        "read_security",
        lambda c, u: {
            "values": [{"row": i // 2, "column": i % 2, "isOpen": False, "isLocked": c.is_locked} for i in range(4)]
        },
    ),
    Signal(
        "closure-windows",
        "Windows",
        "Closure",
        "read_security",
        lambda c, u: {"values": [{"row": i // 2, "column": i % 2, "isOpen": False} for i in range(4)]},
    ),
    Signal(
        "wheel-tires",
        "Tires",
        "Wheel",
        "read_tires",
        lambda c, u: {
            "unit": _pressure_unit(u),
            "values": [
                {"row": index // 2, "column": index % 2, "tirePressure": simulation.pressure(kpa, u)}
                for index, kpa in enumerate(c.tire_pressures_kpa)
            ],
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


def _has(car: EmulatedVehicle, signal: Signal) -> bool:
    if signal.needs == "electric":
        return car.is_electric
    if signal.needs == "tank":
        return car.has_tank
    # The 12 V battery is read with read_battery, which every car supports here.
    return signal.permission == "read_battery" or supports(car, signal.permission)


def _vehicle_resource(request: HttpRequest, car: EmulatedVehicle, mode: str = "test") -> dict:
    return {
        "id": str(car.vehicle_id),
        "type": "vehicle",
        "attributes": {
            "make": car.make,
            "model": car.model,
            "year": car.year,
            "powertrainType": car.powertrain,
            "mode": mode,
        },
        "links": {"self": request.build_absolute_uri(_base_path(request, car))},
    }


def _base_path(request: HttpRequest, car: EmulatedVehicle) -> str:
    prefix = request.path.split("/v3/", 1)[0]
    return f"{prefix}/v3/vehicles/{car.vehicle_id}"


def _signal_resource(request: HttpRequest, car: EmulatedVehicle, signal: Signal, units: str) -> dict:
    retrieved = int(clock.now().timestamp())
    return {
        "id": signal.code,
        "type": "signal",
        "attributes": {
            "code": signal.code,
            "name": signal.name,
            "group": signal.group,
            "status": {"value": "SUCCESS"},
            "body": signal.read(car, units),
        },
        "meta": {"retrievedAt": retrieved, "oemUpdatedAt": int(car.state_updated_at.timestamp())},
        "links": {"self": request.build_absolute_uri(f"{_base_path(request, car)}/signals/{signal.code}")},
    }


def _page_params(request: HttpRequest) -> tuple[int, int]:
    try:
        page = int(request.GET.get("page", 1))
        size = int(request.GET.get("pageSize", DEFAULT_PAGE_SIZE))
    except ValueError as exc:
        raise ApiError("VALIDATION", "PARAMETER", description="page and pageSize must be integers.") from exc
    if page < 1 or not 1 <= size <= MAX_PAGE_SIZE:
        raise ApiError("VALIDATION", "PARAMETER", description=f"page starts at 1; pageSize is 1 to {MAX_PAGE_SIZE}.")
    return page, size


@api_view
def vehicle(request: HttpRequest, call: Call, vehicle_id: str) -> HttpResponse:
    call.authenticate()
    car = call.vehicle(vehicle_id)
    require_permission(call.grant, "read_vehicle_info")
    gate(car, "v3/vehicle", wakes_car=False)
    return json_response({"data": _vehicle_resource(request, car)})


@api_view
def signals(request: HttpRequest, call: Call, vehicle_id: str) -> HttpResponse:
    call.authenticate()
    car = call.vehicle(vehicle_id)
    page, size = _page_params(request)
    gate(car, "v3/signals", wakes_car=True)
    car = fresh_state(car)
    available = [s for s in SIGNALS if s.permission in call.grant.scopes and _has(car, s)]
    last = max(1, -(-len(available) // size))
    chosen = available[(page - 1) * size : page * size]
    base = request.build_absolute_uri(f"{_base_path(request, car)}/signals")

    def link(number: int) -> str:
        return f"{base}?{urlencode({'page': number, 'pageSize': size})}"

    return json_response(
        {
            "data": [_signal_resource(request, car, s, call.unit_system) for s in chosen],
            "meta": {"page": page, "pageSize": size, "totalCount": len(available)},
            "links": {
                "self": link(page),
                "first": link(1),
                "previous": link(page - 1) if page > 1 else None,
                "next": link(page + 1) if page < last else None,
                "last": link(last),
            },
            "included": {"vehicle": _vehicle_resource(request, car)},
        }
    )


@api_view
def signal(request: HttpRequest, call: Call, vehicle_id: str, code: str) -> HttpResponse:
    call.authenticate()
    car = call.vehicle(vehicle_id)
    spec = BY_CODE.get(code.lower())
    if spec is None:
        raise ApiError("RESOURCE_NOT_FOUND", "PATH", description=f"Unknown signal: {code}.")
    require_permission(call.grant, spec.permission)
    if not _has(car, spec):
        raise ApiError("COMPATIBILITY", "VEHICLE_NOT_CAPABLE", description=f"This vehicle has no {spec.code} signal.")
    gate(car, f"v3/signals/{spec.code}", wakes_car=True)
    car = fresh_state(car)
    return json_response({"data": _signal_resource(request, car, spec, call.unit_system)})


@api_view
def not_found(request: HttpRequest, call: Call, rest: str) -> HttpResponse:
    raise ApiError("RESOURCE_NOT_FOUND", "PATH" if rest.startswith("v3/") else "VERSION")
