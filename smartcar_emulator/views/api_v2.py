"""Vehicle API v2.0: the user, the vehicle list, and each car's data, commands, permissions and batch."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse

from smartcar_emulator import clock, simulation, webhooks
from smartcar_emulator.api import (
    Call,
    api_view,
    apply_faults,
    fresh_state,
    gate,
    json_response,
    require_permission,
    require_support,
    vehicle_uuid,
)
from smartcar_emulator.errors import ApiError
from smartcar_emulator.models import EmulatedVehicle, Webhook
from smartcar_emulator.services import check_rate_limits, disconnect

VERSION = re.compile(r"^v\d+\.\d+$")
DEFAULT_LIMIT = 10
MAX_LIMIT = 50


@dataclass(frozen=True)
class Endpoint:
    handler: Callable[[EmulatedVehicle, str, dict], dict]
    permission: str | None
    # "data" answers carry SC-Data-Age, SC-Fetched-At and SC-Unit-System; "static" ones only a request id.
    kind: str


def _attributes(car: EmulatedVehicle, units: str, body: dict) -> dict:
    return {"id": str(car.vehicle_id), "make": car.make, "model": car.model, "year": car.year}


def _vin(car: EmulatedVehicle, units: str, body: dict) -> dict:
    return {"vin": car.vin}


def _odometer(car: EmulatedVehicle, units: str, body: dict) -> dict:
    return {"distance": simulation.distance(car.odometer_km, units)}


def _location(car: EmulatedVehicle, units: str, body: dict) -> dict:
    return {"latitude": round(car.latitude, 6), "longitude": round(car.longitude, 6)}


def _battery(car: EmulatedVehicle, units: str, body: dict) -> dict:
    return {
        "percentRemaining": round(car.state_of_charge, 3),
        "range": simulation.distance(simulation.electric_range_km(car), units),
    }


def _fuel(car: EmulatedVehicle, units: str, body: dict) -> dict:
    return {
        "range": simulation.distance(simulation.fuel_range_km(car), units),
        "percentRemaining": round(car.fuel_level, 3),
        "amountRemaining": simulation.volume(car.fuel_level * car.tank_litres, units),
    }


def _charge(car: EmulatedVehicle, units: str, body: dict) -> dict:
    return {"isPluggedIn": car.is_plugged_in, "state": simulation.charge_state(car)}


def _tires(car: EmulatedVehicle, units: str, body: dict) -> dict:
    front_left, front_right, back_left, back_right = (simulation.pressure(p, units) for p in car.tire_pressures_kpa)
    return {"frontLeft": front_left, "frontRight": front_right, "backLeft": back_left, "backRight": back_right}


def _engine_oil(car: EmulatedVehicle, units: str, body: dict) -> dict:
    return {"lifeRemaining": round(car.oil_life, 2)}


def _security(car: EmulatedVehicle, units: str, body: dict) -> dict:
    door = "LOCKED" if car.is_locked else "UNLOCKED"
    sides = ("frontLeft", "frontRight", "backLeft", "backRight")
    return {
        "isLocked": car.is_locked,
        "doors": [{"type": side, "status": door} for side in sides],
        "windows": [{"type": side, "status": "CLOSED"} for side in sides],
        "sunroof": [],
        "storage": [{"type": "rear", "status": "CLOSED"}]
        + ([{"type": "front", "status": "CLOSED"}] if car.powertrain == "BEV" else []),
        "chargingPort": [{"type": "chargingPort", "status": "CLOSED"}] if car.is_electric else [],
    }


def _lock_command(car: EmulatedVehicle, units: str, body: dict) -> dict:
    action = body.get("action")
    if action not in ("LOCK", "UNLOCK"):
        raise ApiError("VALIDATION", "PARAMETER", description="action must be LOCK or UNLOCK.")
    simulation.lock(car, locked=action == "LOCK")
    car.save(update_fields=["is_locked"])
    webhooks.notice_changes(car)
    return {"status": "success", "message": "Successfully sent request to vehicle"}


def _charge_command(car: EmulatedVehicle, units: str, body: dict) -> dict:
    action = body.get("action")
    if action not in ("START", "STOP"):
        raise ApiError("VALIDATION", "PARAMETER", description="action must be START or STOP.")
    simulation.charge(car, start=action == "START")
    car.save(update_fields=["is_charging"])
    webhooks.notice_changes(car)
    return {"status": "success", "message": "Successfully sent request to vehicle"}


GET_ENDPOINTS: dict[str, Endpoint] = {
    "": Endpoint(_attributes, "read_vehicle_info", "static"),
    "vin": Endpoint(_vin, "read_vin", "static"),
    "odometer": Endpoint(_odometer, "read_odometer", "data"),
    "location": Endpoint(_location, "read_location", "data"),
    "battery": Endpoint(_battery, "read_battery", "data"),
    "fuel": Endpoint(_fuel, "read_fuel", "data"),
    "charge": Endpoint(_charge, "read_charge", "data"),
    "tires/pressure": Endpoint(_tires, "read_tires", "data"),
    "engine/oil": Endpoint(_engine_oil, "read_engine_oil", "data"),
    "security": Endpoint(_security, "read_security", "data"),
}
POST_ENDPOINTS: dict[str, Endpoint] = {
    "security": Endpoint(_lock_command, "control_security", "command"),
    "charge": Endpoint(_charge_command, "control_charge", "command"),
}


def _paging(call: Call) -> tuple[int, int]:
    try:
        limit = int(call.request.GET.get("limit", DEFAULT_LIMIT))
        offset = int(call.request.GET.get("offset", 0))
    except ValueError as exc:
        raise ApiError("VALIDATION", "PARAMETER", description="limit and offset must be integers.") from exc
    if not 1 <= limit <= MAX_LIMIT or offset < 0:
        raise ApiError("VALIDATION", "PARAMETER", description=f"limit must be 1 to {MAX_LIMIT}; offset 0 or more.")
    return limit, offset


def _run(call: Call, vehicle: EmulatedVehicle, method: str, endpoint: str, body: dict) -> tuple[dict, dict]:
    """One call to one car (also one path of a batch): its body and its SC-* headers."""
    table = GET_ENDPOINTS if method == "GET" else POST_ENDPOINTS
    spec = table.get(endpoint)
    if spec is None:
        raise ApiError("RESOURCE_NOT_FOUND", "PATH")
    require_permission(call.grant, spec.permission)
    require_support(vehicle, spec.permission)
    gate(vehicle, endpoint or "attributes", wakes_car=spec.kind != "static")
    car = fresh_state(vehicle)
    result = spec.handler(car, call.unit_system, body)
    if spec.kind != "data":
        return result, {}
    now = clock.now()
    headers = {
        "SC-Data-Age": clock.isoformat(car.state_updated_at),
        "SC-Fetched-At": clock.isoformat(now),
        "SC-Unit-System": call.unit_system,
    }
    return result, headers


def _batch(call: Call, vehicle: EmulatedVehicle) -> dict:
    requests = call.json_body().get("requests")
    if not isinstance(requests, list) or not requests or not all(isinstance(r, dict) for r in requests):
        raise ApiError("VALIDATION", "PARAMETER", description="requests must be a non-empty list of {path}.")
    responses = []
    for item in requests:
        path = str(item.get("path", ""))
        endpoint = path.strip("/")
        try:
            body, headers = _run(call, vehicle, "GET", endpoint, {})
        except ApiError as exc:
            error = {"path": path, "code": exc.status, "body": exc.body(call.request_id)}
            if exc.retry_after is not None:
                error["headers"] = {"Retry-After": str(exc.retry_after)}
            responses.append(error)
        else:
            # The SDK writes into each success item's headers: it must always be an object.
            lower = {name.lower(): value for name, value in headers.items()}
            responses.append({"path": path, "code": 200, "headers": lower, "body": body})
    return {"responses": responses}


@api_view
def dispatch(request: HttpRequest, call: Call, rest: str) -> HttpResponse:
    version, _, path = rest.partition("/")
    if version != "v2.0":
        raise ApiError("RESOURCE_NOT_FOUND", "VERSION" if VERSION.match(version) else "PATH")
    parts = path.split("/")
    if path == "user" and request.method == "GET":
        return _user(call)
    if path == "vehicles" and request.method == "GET":
        return _vehicles(call)
    if len(parts) < 2 or parts[0] != "vehicles":
        raise ApiError("RESOURCE_NOT_FOUND", "PATH")
    vehicle_id, endpoint = parts[1], "/".join(parts[2:])
    if len(parts) == 4 and parts[2] == "webhooks":
        return _subscription(call, vehicle_id=vehicle_id, webhook_id=parts[3])
    known = endpoint in GET_ENDPOINTS or endpoint in POST_ENDPOINTS or endpoint in ("permissions", "batch")
    if not known and endpoint != "application":
        raise ApiError("RESOURCE_NOT_FOUND", "PATH")
    call.authenticate()
    vehicle = call.vehicle(vehicle_id)
    if endpoint == "permissions" and request.method == "GET":
        return _permissions(call)
    if endpoint == "application" and request.method == "DELETE":
        check_rate_limits(vehicle=None)
        apply_faults(vehicle, "application")
        disconnect(grant=call.grant, vehicle=vehicle)
        return json_response({"status": "success"})
    if endpoint == "batch" and request.method == "POST":
        return json_response(_batch(call, vehicle))
    if request.method not in ("GET", "POST") or (request.method == "POST" and endpoint not in POST_ENDPOINTS):
        raise ApiError("RESOURCE_NOT_FOUND", "PATH")
    body = call.json_body() if request.method == "POST" else {}
    result, headers = _run(call, vehicle, request.method, endpoint, body)
    return json_response(result, headers=headers)


def _user(call: Call) -> HttpResponse:
    grant = call.authenticate()
    check_rate_limits(vehicle=None)
    apply_faults(None, "user")
    return json_response({"id": str(grant.user.smartcar_id)})


def _vehicles(call: Call) -> HttpResponse:
    grant = call.authenticate()
    limit, offset = _paging(call)
    check_rate_limits(vehicle=None)
    apply_faults(None, "vehicles")
    ids = [str(v) for v in grant.vehicles.order_by("position").values_list("vehicle_id", flat=True)]
    return json_response({"vehicles": ids[offset : offset + limit], "paging": {"count": len(ids), "offset": offset}})


def _permissions(call: Call) -> HttpResponse:
    limit, offset = _paging(call)
    check_rate_limits(vehicle=None)
    scopes = call.grant.scopes
    return json_response(
        {"permissions": scopes[offset : offset + limit], "paging": {"count": len(scopes), "offset": offset}}
    )


def _subscription(call: Call, *, vehicle_id: str, webhook_id: str) -> HttpResponse:
    """Subscribe a car to a webhook with the car's access token (the SDK's Vehicle.subscribe), or unsubscribe it with
    the application management token (Vehicle.unsubscribe); answered as the SDK reads them."""
    if call.request.method == "POST":
        call.authenticate()
        vehicle = call.vehicle(vehicle_id)
        webhook = _webhook(webhook_id)
        check_rate_limits(vehicle=vehicle)
        apply_faults(vehicle, "webhooks")
        webhooks.subscribe(webhook=webhook, vehicle=vehicle)
        return json_response({"webhookId": webhook.webhook_id, "vehicleId": str(vehicle.vehicle_id)})
    if call.request.method != "DELETE":
        raise ApiError("RESOURCE_NOT_FOUND", "PATH")
    call.vehicle_id = vehicle_id
    webhook = _webhook(webhook_id)
    token = call.token_in_header()
    if not token or not secrets.compare_digest(token, webhook.management_token):
        raise ApiError("AUTHENTICATION")
    vehicle = EmulatedVehicle.objects.filter(vehicle_id=vehicle_uuid(vehicle_id)).first()
    if vehicle is None:
        raise ApiError("RESOURCE_NOT_FOUND", "PATH", description="No such vehicle.")
    check_rate_limits(vehicle=vehicle)
    apply_faults(vehicle, "webhooks")
    webhooks.unsubscribe(webhook=webhook, vehicle=vehicle)
    return json_response({"status": "success"})


def _webhook(webhook_id: str) -> Webhook:
    webhook = webhooks.find_webhook(webhook_id)
    if webhook is None:
        raise ApiError("RESOURCE_NOT_FOUND", "PATH", description=f"The application has no webhook {webhook_id}.")
    return webhook
