"""What the v2 and v3 vehicle APIs share: bearer auth (a vehicle's access token, or on v3 the application token with
sc-user-id), the grant's vehicles, faults, limits, headers, the log."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from functools import wraps

from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from smartcar_emulator import clock, services, simulation, webhooks
from smartcar_emulator.errors import ApiError, new_request_id
from smartcar_emulator.models import ApplicationToken, EmulatedVehicle, Grant
from smartcar_emulator.permissions import supports
from smartcar_emulator.routers import database_alias

logger = logging.getLogger(__name__)


def vehicle_uuid(value: str) -> uuid.UUID:
    """A vehicle id from a path, or the VALIDATION error Smartcar answers to one that is no UUID."""
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise ApiError("VALIDATION", "PARAMETER", description="Invalid vehicle id.") from exc


class Call:
    """One API request as it travels through the checks: who asks, for which car, and what to answer."""

    def __init__(self, request: HttpRequest) -> None:
        self.request = request
        self.request_id = new_request_id()
        self.token = ""
        self.grant: Grant | None = None
        self.application: ApplicationToken | None = None
        # Errors take v3's shape for calls made, or evidently meant to be made, with the application token.
        self.v3_errors = False
        self.vehicle_id = ""
        self.user_id = request.headers.get("sc-user-id", "").strip()
        unit_system = request.headers.get("sc-unit-system", "metric").lower()
        self.unit_system = unit_system if unit_system in ("metric", "imperial") else "metric"

    def authenticate(self, *, application: bool = False) -> Grant | None:
        """The grant of the vehicle access token in the Authorization header. Where `application` allows it (v3), the
        header may instead carry the application token: then the grant depends on the car and sc-user-id (vehicle())."""
        self.token_in_header()
        if application:
            self.application = services.application_token(self.token) if self.token else None
            self.v3_errors = self.application is not None or bool(self.user_id)
            if self.application is not None:
                if self.application.expires_at <= clock.now():
                    raise unauthorized()
                return None
        if not self.token:
            raise unauthorized() if self.v3_errors else ApiError("AUTHENTICATION")
        try:
            self.grant, _ = services.grant_for_access_token(self.token)
        except ApiError:
            if self.v3_errors:
                raise unauthorized() from None
            raise
        return self.grant

    def vehicle(self, vehicle_id: str) -> EmulatedVehicle:
        """The car, if the caller may reach it: with a vehicle access token, if its grant covers the car (else an
        AUTHENTICATION error); with the application token, if the user named by sc-user-id gave the application this
        car (else ACCESS_DENIED: one user's id never opens another user's car)."""
        self.vehicle_id = vehicle_id
        vehicle_uuid(vehicle_id)
        if self.application is not None:
            grant = services.user_grant(user_id=self.user_id, vehicle_id=vehicle_id) if self.user_id else None
            if grant is None:
                raise access_denied()
            self.grant = grant
            return grant.vehicles.get(vehicle_id=vehicle_id)
        grant = self.grant if self.grant is not None else self.authenticate()
        vehicle = grant.vehicles.filter(vehicle_id=vehicle_id).first()
        if vehicle is None:
            raise ApiError("AUTHENTICATION")
        return vehicle

    def require_application(self) -> ApplicationToken:
        """Endpoints that exist only for the application token (v3 connections and users): v3 errors throughout."""
        self.application = services.application_token(self.token_in_header())
        self.v3_errors = True
        if self.application is None or self.application.expires_at <= clock.now():
            raise unauthorized()
        return self.application

    def token_in_header(self) -> str:
        scheme, _, token = self.request.headers.get("Authorization", "").partition(" ")
        self.token = token.strip() if scheme.lower() == "bearer" else ""
        return self.token

    def json_body(self) -> dict:
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError as exc:
            raise ApiError("VALIDATION", "PARAMETER", description="The request body is not valid JSON.") from exc
        if not isinstance(body, dict):
            raise ApiError("VALIDATION", "PARAMETER", description="The request body must be a JSON object.")
        return body


def unauthorized() -> ApiError:
    return ApiError("AUTHENTICATION", "UNAUTHORIZED", status=401)


def access_denied() -> ApiError:
    return ApiError("AUTHENTICATION", "ACCESS_DENIED", status=403)


def api_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Turn ApiError into an error body (v2's, or v3's for the application token), add SC-Request-Id to every answer,
    and log the call."""

    @csrf_exempt
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        call = Call(request)
        try:
            response = view(request, call, *args, **kwargs)
            outcome = "ok"
        except ApiError as exc:
            response = exc.response(call.request_id, v3=call.v3_errors)
            outcome = f"{exc.error_type}:{exc.code or ''}"
        except Exception:
            # A bug in the emulator must still look like Smartcar failing (JSON), not like an HTML page.
            logger.exception("Emulator failed on %s %s", request.method, request.path)
            error = ApiError("SERVER", "INTERNAL")
            response = error.response(call.request_id, v3=call.v3_errors)
            outcome = "SERVER:INTERNAL"
        response["SC-Request-Id"] = call.request_id
        services.log_request(
            method=request.method,
            # With the query: a test can see which page of a paged list was asked for.
            path=request.get_full_path(),
            token=call.token,
            user_id=call.user_id,
            vehicle_id=call.vehicle_id,
            status_code=response.status_code,
            outcome=outcome,
            request_id=call.request_id,
        )
        return response

    return wrapper


def require_permission(grant: Grant, permission: str | None) -> None:
    if permission and permission not in grant.scopes:
        raise ApiError(
            "PERMISSION",
            description=f"Your application has insufficient permissions to access the requested resource: "
            f"it needs {permission}.",
        )


def require_support(vehicle: EmulatedVehicle, permission: str | None) -> None:
    if permission and not supports(vehicle, permission):
        raise ApiError("COMPATIBILITY", "VEHICLE_NOT_CAPABLE")


def apply_faults(vehicle: EmulatedVehicle | None, path: str) -> None:
    fault = services.matching_faults(vehicle=vehicle, path=path)
    if fault is None:
        return
    if fault.latency_ms:
        # Injected latency is real time on purpose: it is what a slow car maker looks like to the caller.
        time.sleep(fault.latency_ms / 1000)
    if fault.error_type:
        raise ApiError(
            fault.error_type,
            fault.error_code or None,
            status=fault.status_code,
            retry_after=fault.retry_after,
        )


def gate(vehicle: EmulatedVehicle, fault_path: str, *, wakes_car: bool) -> None:
    """The checks every call to a car passes after auth and permission: limits, faults, a sleeping car."""
    services.check_rate_limits(vehicle=vehicle)
    apply_faults(vehicle, fault_path)
    if wakes_car and vehicle.is_asleep:
        raise ApiError("VEHICLE_STATE", "ASLEEP")


@transaction.atomic(using=database_alias())
def fresh_state(vehicle: EmulatedVehicle) -> EmulatedVehicle:
    """The car with its state advanced to the emulator's now, saved so that every reader agrees."""
    locked = EmulatedVehicle.objects.select_for_update().get(pk=vehicle.pk)
    simulation.advance(locked, now=clock.now())
    locked.save()
    return locked


def change_state(vehicle: EmulatedVehicle, change: Callable[[EmulatedVehicle], None]) -> EmulatedVehicle:
    """Apply `change` to the car as it is now (its state advanced to the emulator's clock first, so that the change is
    the newest reading), under the car's row lock, and raise the webhook events it causes."""
    with transaction.atomic(using=database_alias()):
        car = EmulatedVehicle.objects.select_for_update().get(pk=vehicle.pk)
        simulation.advance(car, now=clock.now())
        change(car)
        if not car.is_plugged_in:
            car.is_charging = False
        car.save()
        webhooks.notice_changes(car)
    return car


def json_response(body: dict, *, status: int = 200, headers: dict | None = None) -> JsonResponse:
    response = JsonResponse(body, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response
