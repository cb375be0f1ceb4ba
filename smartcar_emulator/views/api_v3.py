"""Vehicle API v3: the vehicle, its signals (paged, each with its own status), commands, and the application's
connections; for a vehicle's access token, or for the application token with sc-user-id (SMARTCAR.md §4b, §4c)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse

from smartcar_emulator import clock, fleet, services, simulation
from smartcar_emulator.api import (
    Call,
    api_view,
    change_state,
    fresh_state,
    gate,
    json_response,
    require_permission,
    require_support,
)
from smartcar_emulator.errors import ApiError
from smartcar_emulator.models import EmulatedVehicle, Grant
from smartcar_emulator.signals import BY_CODE, SIGNALS, Signal, epoch_ms, listed, unavailable

# Smartcar's documented example pages signals by 10 (smartcar.com/docs/api-reference/get-signals).
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class Command:
    permission: str
    command_type: str
    run: Callable[[EmulatedVehicle], None]


# smartcar.com/docs/api-reference/security/lock-doors, …/unlock-doors, …/charging/start-charging, …/stop-charging.
COMMANDS = {
    "security/lock": Command("control_security", "security-lock", lambda car: simulation.lock(car, locked=True)),
    "security/unlock": Command("control_security", "security-unlock", lambda car: simulation.lock(car, locked=False)),
    "charge/start": Command("control_charge", "charge-start", lambda car: simulation.charge(car, start=True)),
    "charge/stop": Command("control_charge", "charge-stop", lambda car: simulation.charge(car, start=False)),
}


def _vehicle_path(car: EmulatedVehicle) -> str:
    # Links are relative to the API's base, without the version: "/vehicles/{id}/signals?page=2&pageSize=10" in
    # Smartcar's documentation, "/vehicles/{id}" in the Java SDK's fixtures.
    return f"/vehicles/{car.vehicle_id}"


def _vehicle_resource(car: EmulatedVehicle) -> dict:
    return {
        "id": str(car.vehicle_id),
        "type": "vehicle",
        "attributes": {
            "make": car.make,
            "model": car.model,
            "year": car.year,
            "powertrainType": car.powertrain,
            "mode": "test",
        },
        "links": {"self": _vehicle_path(car)},
    }


def _signal_resource(car: EmulatedVehicle, signal: Signal, units: str) -> dict:
    """The signal as the car gives it now, or with an ERROR status saying why it cannot (a sleeping car, a model
    without the feature): 200 either way, the other signals unaffected."""
    attributes = {"code": signal.code, "name": signal.name, "group": signal.group}
    links = {"self": f"{_vehicle_path(car)}/signals/{signal.code}"}
    error = unavailable(car, signal)
    if error is None:
        return {
            "id": signal.code,
            "type": "signal",
            "attributes": {**attributes, "status": {"value": "SUCCESS"}, "body": signal.read(car, units)},
            "meta": {"retrievedAt": epoch_ms(clock.now()), "oemUpdatedAt": epoch_ms(car.state_updated_at)},
            "links": links,
        }
    # Like Smartcar's own answers for a signal it could not get: the error, no body and no times.
    status = {"value": "ERROR", "error": error.v3_error()}
    attributes["status"] = status
    return {"id": signal.code, "type": "signal", "attributes": attributes, "meta": {}, "links": links}


def _positive_int(value: str | None, default: int, name: str) -> int:
    try:
        number = int(value) if value is not None else default
    except ValueError as exc:
        raise ApiError("VALIDATION", "PARAMETER", description=f"{name} must be an integer.") from exc
    if number < 1:
        raise ApiError("VALIDATION", "PARAMETER", description=f"{name} must be 1 or more.")
    return number


def _page(items: list, page: int, size: int) -> tuple[list, int]:
    """The items of one page, and the number of the last page."""
    if size > MAX_PAGE_SIZE:
        raise ApiError("VALIDATION", "PARAMETER", description=f"The page size is at most {MAX_PAGE_SIZE}.")
    return items[(page - 1) * size : page * size], max(1, -(-len(items) // size))


@api_view
def vehicle(request: HttpRequest, call: Call, vehicle_id: str) -> HttpResponse:
    call.authenticate(application=True)
    car = call.vehicle(vehicle_id)
    require_permission(call.grant, "read_vehicle_info")
    gate(car, "v3/vehicle", wakes_car=False)
    # The resource itself, not wrapped in "data" (the Java SDK's GetVehicle.json fixture).
    return json_response(_vehicle_resource(car))


@api_view
def signals(request: HttpRequest, call: Call, vehicle_id: str) -> HttpResponse:
    call.authenticate(application=True)
    car = call.vehicle(vehicle_id)
    page = _positive_int(request.GET.get("page"), 1, "page")
    size = _positive_int(request.GET.get("pageSize"), DEFAULT_PAGE_SIZE, "pageSize")
    gate(car, "v3/signals", wakes_car=False)
    car = fresh_state(car)
    available = [s for s in SIGNALS if s.permission in call.grant.scopes and listed(car, s)]
    chosen, last = _page(available, page, size)

    def link(number: int) -> str:
        return f"{_vehicle_path(car)}/signals?{urlencode({'page': number, 'pageSize': size})}"

    return json_response(
        {
            "data": [_signal_resource(car, s, call.unit_system) for s in chosen],
            "meta": {"page": page, "pageSize": size, "totalCount": len(available)},
            "links": {
                "self": link(page),
                "first": link(1),
                "previous": link(page - 1) if page > 1 else None,
                "next": link(page + 1) if page < last else None,
                "last": link(last),
            },
            "included": {"vehicle": _vehicle_resource(car)},
        }
    )


@api_view
def signal(request: HttpRequest, call: Call, vehicle_id: str, code: str) -> HttpResponse:
    call.authenticate(application=True)
    car = call.vehicle(vehicle_id)
    spec = BY_CODE.get(code.lower())
    if spec is None:
        raise ApiError("RESOURCE_NOT_FOUND", "PATH", description=f"Unknown signal: {code}.")
    require_permission(call.grant, spec.permission)
    if not listed(car, spec):
        raise ApiError("COMPATIBILITY", "VEHICLE_NOT_CAPABLE", description=f"This vehicle has no {spec.code} signal.")
    gate(car, f"v3/signals/{spec.code}", wakes_car=False)
    car = fresh_state(car)
    # The signal resource itself, not wrapped in "data" (the Java SDK's SignalV3.json fixture).
    return json_response(_signal_resource(car, spec, call.unit_system))


@api_view
def command(request: HttpRequest, call: Call, vehicle_id: str, name: str) -> HttpResponse:
    _require_method(request, "POST")
    spec = COMMANDS.get(name)
    if spec is None:
        raise ApiError("RESOURCE_NOT_FOUND", "PATH")
    call.authenticate(application=True)
    car = call.vehicle(vehicle_id)
    require_permission(call.grant, spec.permission)
    require_support(car, spec.permission)
    gate(car, f"v3/commands/{name}", wakes_car=True)
    started = clock.now()
    car = change_state(car, spec.run)
    done = clock.now()
    return json_response(
        {
            "data": {
                "id": f"exec_{uuid.uuid4().hex}",
                "type": "command-execution",
                "attributes": {
                    "commandType": spec.command_type,
                    "status": {"value": "SUCCESS"},
                    "executionMode": "sync",
                },
                "meta": {
                    "executedAt": clock.isoformat(started),
                    "completedAt": clock.isoformat(done),
                    "durationInSeconds": round((done - started).total_seconds(), 3),
                },
            }
        }
    )


def _connection_id(grant: Grant, car: EmulatedVehicle) -> str:
    # One connection per person and car, however often they went through Connect again.
    return str(uuid.uuid5(fleet.NAMESPACE, f"connection:{grant.user.smartcar_id}:{car.vehicle_id}"))


def _connection_resource(request: HttpRequest, grant: Grant, car: EmulatedVehicle) -> dict:
    """A connection as smartcar.com/docs/api-reference/get-connection shows it."""
    connection_id = _connection_id(grant, car)
    vehicle = _vehicle_resource(car)
    return {
        "id": connection_id,
        "type": "connection",
        "attributes": {"permissions": grant.scopes, "vehicle": vehicle["attributes"]},
        "relationships": {
            "vehicle": {
                "data": {"id": vehicle["id"], "type": "vehicle"},
                "links": {"related": _v3_url(request, _vehicle_path(car))},
            },
            "user": {"data": {"id": str(grant.user.smartcar_id), "type": "user"}},
        },
        "meta": {"createdAt": clock.isoformat(grant.created_at), "updatedAt": clock.isoformat(grant.created_at)},
        "links": {"self": _v3_url(request, f"/connections/{connection_id}")},
    }


def _v3_url(request: HttpRequest, path: str) -> str:
    # Connections' links are absolute (a captured answer in wbyoung/smartcar's fixtures), unlike signals'.
    prefix = request.path.split("/v3/", 1)[0]
    return request.build_absolute_uri(f"{prefix}/v3{path}")


def _require_method(request: HttpRequest, method: str) -> None:
    if request.method != method:
        raise ApiError("RESOURCE_NOT_FOUND", "PATH")


@api_view
def connections(request: HttpRequest, call: Call) -> HttpResponse:
    """The application's connections, newest first, filtered by user or car (`filter[userId]`, `filter[vehicleId]`)
    and paged by `page[number]` and `page[size]` (10 by default)."""
    _require_method(request, "GET")
    call.require_application()
    page = _positive_int(request.GET.get("page[number]"), 1, "page[number]")
    size = _positive_int(request.GET.get("page[size]"), DEFAULT_PAGE_SIZE, "page[size]")
    found = services.connections(
        user_id=request.GET.get("filter[userId]"), vehicle_id=request.GET.get("filter[vehicleId]")
    )
    chosen, last = _page(found, page, size)
    filters = {name: value for name, value in request.GET.items() if name.startswith("filter[")}

    def link(number: int) -> str:
        query = urlencode({"page[number]": number, "page[size]": size, **filters})
        return _v3_url(request, f"/connections?{query}")

    return json_response(
        {
            "data": [_connection_resource(request, grant, car) for grant, car in chosen],
            "meta": {
                "pageNumber": page,
                "pageSize": size,
                "totalCount": len(found),
                "orderBy": "createdAt",
                "orderDirection": "DESC",
            },
            "links": {
                "self": link(page),
                "first": link(1),
                "last": link(last),
                "next": link(page + 1) if page < last else None,
                "prev": link(page - 1) if page > 1 else None,
            },
        }
    )


@api_view
def connection(request: HttpRequest, call: Call, connection_id: str) -> HttpResponse:
    """Remove one connection: the application loses that person's car."""
    _require_method(request, "DELETE")
    call.require_application()
    for grant, car in services.connections():
        if _connection_id(grant, car) == connection_id:
            services.disconnect(grant=grant, vehicle=car)
            return HttpResponse(status=204)
    raise ApiError("RESOURCE_NOT_FOUND", "PATH", description="No such connection.")


@api_view
def user(request: HttpRequest, call: Call, user_id: str) -> HttpResponse:
    """Remove a user (smartcar.com/docs/api-reference/remove-user): every connection of theirs goes."""
    _require_method(request, "DELETE")
    call.require_application()
    found = services.connections(user_id=user_id)
    if not found:
        raise ApiError("RESOURCE_NOT_FOUND", "PATH", description="No such user.")
    for grant, car in found:
        services.disconnect(grant=grant, vehicle=car)
    return HttpResponse(status=204)


@api_view
def not_found(request: HttpRequest, call: Call, rest: str) -> HttpResponse:
    raise ApiError("RESOURCE_NOT_FOUND", "PATH" if rest.startswith("v3/") else "VERSION")
