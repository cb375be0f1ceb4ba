"""The JSON control API for tests, demos and benchmarks, behind the emulator's client id and secret."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from smartcar_emulator import clock, fleet, services, simulation, webhooks
from smartcar_emulator.api import change_state
from smartcar_emulator.errors import ERROR_TYPES
from smartcar_emulator.models import (
    AccessToken,
    ApplicationToken,
    AuthorizationCode,
    DeliveryAttempt,
    EmulatedVehicle,
    EmulatorUser,
    Fault,
    Grant,
    Knobs,
    RateLimitBucket,
    RefreshToken,
    RequestLog,
    Subscription,
    Webhook,
    WebhookEvent,
)
from smartcar_emulator.routers import database_alias
from smartcar_emulator.signals import BY_CODE
from smartcar_emulator.views.oauth import basic_credentials

VEHICLE_FIELDS = ("is_locked", "is_plugged_in", "is_charging", "is_asleep")
LEVEL_FIELDS = ("state_of_charge", "fuel_level", "oil_life")
RATE_FIELDS = ("rate_limits_enabled", "app_capacity", "app_refill_per_minute", "vehicle_capacity")
RATE_FIELDS += ("vehicle_refill_per_minute",)


class BadInput(Exception):
    pass


def control_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """HTTP Basic with the emulator's client credentials; JSON in, JSON out; no CSRF (it is an API)."""

    @csrf_exempt
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        credentials = basic_credentials(request)
        if credentials is None or not services.client_is_valid(*credentials):
            response = JsonResponse({"error": "unauthorized"}, status=401)
            response["WWW-Authenticate"] = 'Basic realm="smartcar emulator control"'
            return response
        try:
            return view(request, *args, **kwargs)
        except BadInput as exc:
            return JsonResponse({"error": str(exc)}, status=400)

    return wrapper


def _body(request: HttpRequest) -> dict:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError as exc:
        raise BadInput("the body must be JSON") from exc
    if not isinstance(body, dict):
        raise BadInput("the body must be a JSON object")
    return body


def _int(body: dict, name: str, *, default=None, minimum: int | None = None):
    value = body.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or (minimum is not None and value < minimum):
        raise BadInput(f"{name} must be an integer" + (f" >= {minimum}" if minimum is not None else ""))
    return value


def _limit(request: HttpRequest) -> int:
    """A log's `limit` query parameter: 50 rows by default, 1 to 500."""
    try:
        return min(500, max(1, int(request.GET.get("limit", 50))))
    except ValueError as exc:
        raise BadInput("limit must be an integer") from exc


def _clock_payload() -> dict:
    return {"offset_seconds": clock.knobs().clock_offset_seconds, "now": clock.isoformat(clock.now())}


@control_view
@require_http_methods(["GET", "PUT", "POST"])
def clock_view(request: HttpRequest) -> JsonResponse:
    """Read or move the clock. Moving it sends the webhook events that have come due, before answering: a test drives
    Smartcar's retry schedule by moving the clock."""
    try:
        if request.method == "PUT":
            clock.set_offset(seconds=_int(_body(request), "offset_seconds", default=0))
        elif request.method == "POST":
            clock.advance(seconds=_int(_body(request), "advance_seconds", default=0))
    except clock.OffsetOutOfRange as exc:
        raise BadInput(str(exc)) from exc
    if request.method == "GET":
        return JsonResponse(_clock_payload())
    return JsonResponse({**_clock_payload(), "webhook_deliveries_attempted": webhooks.deliver_due()})


def _fault_payload(fault: Fault) -> dict:
    return {
        "id": fault.pk,
        "vehicle_id": str(fault.vehicle.vehicle_id) if fault.vehicle else None,
        "path": fault.path,
        "error_type": fault.error_type or None,
        "error_code": fault.error_code or None,
        "status_code": fault.status_code,
        "remaining": fault.remaining,
        "latency_ms": fault.latency_ms,
        "retry_after": fault.retry_after,
    }


@control_view
@require_http_methods(["GET", "POST", "DELETE"])
def faults(request: HttpRequest) -> JsonResponse:
    if request.method == "DELETE":
        Fault.objects.all().delete()
    elif request.method == "POST":
        body = _body(request)
        error_type = body.get("error_type") or ""
        if error_type and error_type not in ERROR_TYPES:
            raise BadInput(f"error_type must be one of {', '.join(ERROR_TYPES)}")
        vehicle = None
        if body.get("vehicle_id"):
            vehicle = EmulatedVehicle.objects.filter(vehicle_id=str(body["vehicle_id"])).first()
            if vehicle is None:
                raise BadInput("unknown vehicle_id")
        fault = Fault.objects.create(
            vehicle=vehicle,
            path=str(body.get("path") or "").strip("/"),
            error_type=error_type,
            error_code=str(body.get("error_code") or ""),
            status_code=_int(body, "status_code", minimum=400),
            remaining=_int(body, "times", minimum=1),
            latency_ms=_int(body, "latency_ms", default=0, minimum=0),
            retry_after=_int(body, "retry_after", minimum=0),
        )
        return JsonResponse(_fault_payload(fault), status=201)
    return JsonResponse({"faults": [_fault_payload(f) for f in Fault.objects.select_related("vehicle")]})


@control_view
@require_http_methods(["DELETE"])
def fault_detail(request: HttpRequest, pk: int) -> HttpResponse:
    get_object_or_404(Fault, pk=pk).delete()
    return HttpResponse(status=204)


@control_view
@require_GET
def request_log(request: HttpRequest) -> JsonResponse:
    limit = _limit(request)
    rows = RequestLog.objects.all()[:limit]
    return JsonResponse(
        {
            "requests": [
                {
                    "at": clock.isoformat(row.at),
                    "method": row.method,
                    "path": row.path,
                    "token": f"{row.token_hint}…" if row.token_hint else None,
                    "user_id": row.user_id or None,
                    "vehicle_id": row.vehicle_id or None,
                    "status_code": row.status_code,
                    "outcome": row.outcome,
                    "request_id": row.request_id or None,
                }
                for row in rows
            ]
        }
    )


def _rate_payload() -> dict:
    knobs = clock.knobs()
    return {
        **{name: getattr(knobs, name) for name in RATE_FIELDS},
        "buckets": [
            {"key": b.key, "tokens": round(b.tokens, 2), "updated_at": clock.isoformat(b.updated_at)}
            for b in RateLimitBucket.objects.order_by("key")
        ],
    }


@control_view
@require_http_methods(["GET", "PUT", "DELETE"])
def rate_limits(request: HttpRequest) -> JsonResponse:
    if request.method == "PUT":
        body = _body(request)
        knobs = clock.knobs()
        for name in RATE_FIELDS:
            if name not in body:
                continue
            value = body[name]
            if name == "rate_limits_enabled" and not isinstance(value, bool):
                raise BadInput("rate_limits_enabled must be true or false")
            if name != "rate_limits_enabled" and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise BadInput(f"{name} must be a number")
            setattr(knobs, name, value)
        knobs.save()
    elif request.method == "DELETE":
        # Refill every bucket.
        RateLimitBucket.objects.all().delete()
    return JsonResponse(_rate_payload())


def _vehicle_payload(car: EmulatedVehicle) -> dict:
    return {
        "vehicle_id": str(car.vehicle_id),
        "vin": car.vin,
        "make": car.make,
        "model": car.model,
        "year": car.year,
        "powertrain": car.powertrain,
        "odometer_km": round(car.odometer_km, 1),
        **{name: getattr(car, name) for name in LEVEL_FIELDS + VEHICLE_FIELDS},
    }


@control_view
@require_GET
def user_fleet(request: HttpRequest, username: str) -> JsonResponse:
    """The cars a username owns (created now if it never logged in), so tests can know them in advance."""
    user = fleet.user_with_fleet(username=username, now=clock.now())
    return JsonResponse(
        {
            "username": user.username,
            "user_id": str(user.smartcar_id),
            "vehicles": [_vehicle_payload(car) for car in user.vehicles.all()],
        }
    )


def _car(vehicle_id: str) -> EmulatedVehicle:
    """The car, or 404 (a vehicle id that is not even a UUID included)."""
    try:
        return get_object_or_404(EmulatedVehicle, vehicle_id=vehicle_id)
    except ValidationError as exc:
        raise Http404("no such vehicle") from exc


def _patch(body: dict) -> Callable[[EmulatedVehicle], None]:
    def apply(car: EmulatedVehicle) -> None:
        for name in VEHICLE_FIELDS:
            if name in body:
                if not isinstance(body[name], bool):
                    raise BadInput(f"{name} must be true or false")
                setattr(car, name, body[name])
        for name in LEVEL_FIELDS:
            if name in body:
                value = body[name]
                if getattr(car, name) is None:
                    raise BadInput(f"this car has no {name}")
                if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                    raise BadInput(f"{name} must be a number from 0 to 1")
                setattr(car, name, float(value))

    return apply


@control_view
@require_http_methods(["GET", "PATCH"])
def vehicle_detail(request: HttpRequest, vehicle_id: str) -> JsonResponse:
    car = _car(vehicle_id)
    if request.method == "PATCH":
        car = change_state(car, _patch(_body(request)))
    return JsonResponse(_vehicle_payload(car))


def _drive(body: dict) -> Callable[[EmulatedVehicle], None]:
    km = body.get("km", 30)
    if isinstance(km, bool) or not isinstance(km, int | float) or not 0 < km <= 2000:
        raise BadInput("km must be a number above 0 and at most 2000")

    def apply(car: EmulatedVehicle) -> None:
        if car.is_asleep:
            raise BadInput("the car is asleep: wake it first")
        car.is_plugged_in = False
        simulation.drive(car, km=float(km))

    return apply


def _plug(plugged: bool) -> Callable[[dict], Callable[[EmulatedVehicle], None]]:
    def action(body: dict) -> Callable[[EmulatedVehicle], None]:
        def apply(car: EmulatedVehicle) -> None:
            if not car.is_electric:
                raise BadInput("this car has no charging port")
            car.is_plugged_in = plugged

        return apply

    return action


def _charge_to(body: dict) -> Callable[[EmulatedVehicle], None]:
    percent = body.get("percent", 80)
    if isinstance(percent, bool) or not isinstance(percent, int | float) or not 0 <= percent <= 100:
        raise BadInput("percent must be a number from 0 to 100")

    def apply(car: EmulatedVehicle) -> None:
        if not car.is_electric:
            raise BadInput("this car has no battery to charge")
        # Plugged in and charged to the level, where it stops as a charge limit would stop it.
        car.is_plugged_in, car.is_charging = True, False
        car.state_of_charge = percent / 100

    return apply


def _sleep(asleep: bool) -> Callable[[dict], Callable[[EmulatedVehicle], None]]:
    def action(body: dict) -> Callable[[EmulatedVehicle], None]:
        def apply(car: EmulatedVehicle) -> None:
            car.is_asleep = asleep

        return apply

    return action


# What a person does with a car, each a change the car's webhooks hear about.
VEHICLE_ACTIONS: dict[str, Callable[[dict], Callable[[EmulatedVehicle], None]]] = {
    "drive": _drive,
    "plug-in": _plug(True),
    "unplug": _plug(False),
    "charge": _charge_to,
    "sleep": _sleep(True),
    "wake": _sleep(False),
}


@control_view
@require_POST
def vehicle_action(request: HttpRequest, vehicle_id: str, action: str) -> JsonResponse:
    car = _car(vehicle_id)
    if action not in VEHICLE_ACTIONS:
        raise BadInput(f"action must be one of {', '.join(VEHICLE_ACTIONS)}")
    return JsonResponse(_vehicle_payload(change_state(car, VEHICLE_ACTIONS[action](_body(request)))))


@control_view
@require_POST
def refresh_token_check(request: HttpRequest) -> JsonResponse:
    """Whether each refresh token would be accepted now, at the emulator's clock, without using it (for fault tests
    that must know whether a stored token survived)."""
    tokens = _body(request).get("refresh_tokens")
    if not isinstance(tokens, list) or not all(isinstance(token, str) for token in tokens) or len(tokens) > 10_000:
        raise BadInput("refresh_tokens must be a list of at most 10000 strings")
    return JsonResponse({"valid": [services.refresh_token_is_valid(token) for token in tokens]})


@control_view
@require_http_methods(["GET", "PUT"])
def application(request: HttpRequest) -> JsonResponse:
    """The application's dashboard settings: the makes it is enabled for (an empty list: every make)."""
    knobs = clock.knobs()
    if request.method == "PUT":
        makes = _body(request).get("enabled_makes")
        if makes is None:
            makes = []
        if not isinstance(makes, list) or not all(isinstance(make, str) and make.strip() for make in makes):
            raise BadInput("enabled_makes must be a list of makes, or empty for every make")
        knobs.enabled_makes = sorted({make.strip().upper() for make in makes})
        knobs.save(update_fields=["enabled_makes", "updated_at"])
    return JsonResponse({"enabled_makes": knobs.enabled_makes, "makes": fleet.MAKES})


@control_view
@require_POST
def reset(request: HttpRequest) -> JsonResponse:
    """Forget everything: people, cars, grants, tokens, webhooks and their deliveries, faults, buckets, the log, the
    clock offset and enabled makes (the webhook of SMARTCAR_EMULATOR_WEBHOOK_URL comes back when next looked at)."""
    with transaction.atomic(using=database_alias()):
        for model in (
            DeliveryAttempt,
            WebhookEvent,
            Subscription,
            Webhook,
            RequestLog,
            RateLimitBucket,
            Fault,
            AccessToken,
            RefreshToken,
            ApplicationToken,
            AuthorizationCode,
            Grant,
        ):
            model.objects.all().delete()
        EmulatorUser.objects.all().delete()
        Knobs.objects.all().delete()
    return JsonResponse({"status": "reset"})


def _codes(body: dict, name: str) -> list[str] | None:
    """A list of signal codes from the body, each one the emulator serves; None if absent."""
    codes = body.get(name)
    if codes is None:
        return None
    if not isinstance(codes, list) or not all(isinstance(code, str) and code in BY_CODE for code in codes):
        raise BadInput(f"{name} must be a list of signal codes the emulator serves: {', '.join(BY_CODE)}")
    return list(dict.fromkeys(codes))


def _text(body: dict, name: str, *, max_length: int) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > max_length:
        raise BadInput(f"{name} must be a non-empty string of at most {max_length} characters")
    return value.strip()


def _webhook_payload(webhook: Webhook) -> dict:
    return {
        "webhook_id": webhook.webhook_id,
        "name": webhook.name,
        "url": webhook.callback_url,
        "management_token": f"{services.hint(webhook.management_token)}…",
        "signals": webhook.signals,
        "triggers": webhook.triggers,
        "auto_enroll": webhook.auto_enroll,
        "verification": webhook.verification,
        "verification_detail": webhook.verification_detail or None,
        "verified_at": clock.isoformat(webhook.verified_at) if webhook.verified_at else None,
        "vehicles": [str(s.vehicle.vehicle_id) for s in webhook.subscriptions.select_related("vehicle")],
    }


@control_view
@require_GET
def webhook_list(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"webhooks": [_webhook_payload(webhook) for webhook in webhooks.all_webhooks()]})


@control_view
@require_http_methods(["GET", "PUT", "DELETE"])
def webhook_detail(request: HttpRequest, webhook_id: str) -> HttpResponse:
    """Set up a webhook as Smartcar's dashboard does (PUT: what is given changes, the rest stays or takes its default;
    a new webhook, URL or token is verified before the answer), read it, or delete it with its subscriptions."""
    if request.method == "PUT":
        body = _body(request)
        url = _text(body, "url", max_length=500)
        if url is not None:
            try:
                URLValidator(schemes=["http", "https"])(url)
            except ValidationError as exc:
                raise BadInput("url must be an http or https URL") from exc
        auto_enroll = body.get("auto_enroll")
        if auto_enroll is not None and not isinstance(auto_enroll, bool):
            raise BadInput("auto_enroll must be true or false")
        try:
            webhook, created = webhooks.configure(
                webhook_id=webhook_id,
                url=url,
                management_token=_text(body, "management_token", max_length=200),
                name=_text(body, "name", max_length=100),
                signals=_codes(body, "signals"),
                triggers=_codes(body, "triggers"),
                auto_enroll=auto_enroll,
            )
        except ValueError as exc:
            raise BadInput(str(exc)) from exc
        return JsonResponse(_webhook_payload(webhook), status=201 if created else 200)
    webhook = webhooks.find_webhook(webhook_id)
    if webhook is None:
        return JsonResponse({"error": f"no webhook {webhook_id}"}, status=404)
    if request.method == "DELETE":
        webhook.delete()
        return HttpResponse(status=204)
    return JsonResponse(_webhook_payload(webhook))


@control_view
@require_POST
def webhook_verify(request: HttpRequest, webhook_id: str) -> JsonResponse:
    """The dashboard's "Verify this webhook": VERIFY sent again, the answer checked before this one."""
    webhook = webhooks.find_webhook(webhook_id)
    if webhook is None:
        return JsonResponse({"error": f"no webhook {webhook_id}"}, status=404)
    webhooks.verify(webhook)
    return JsonResponse(_webhook_payload(webhook))


@control_view
@require_GET
def delivery_log(request: HttpRequest) -> JsonResponse:
    """Every attempt to deliver a webhook event, newest first, optionally of one event, car or webhook."""
    limit = _limit(request)
    rows = DeliveryAttempt.objects.select_related("event__webhook", "event__vehicle")
    for name, lookup in (
        ("event_id", "event__event_id"),
        ("vehicle_id", "event__vehicle__vehicle_id"),
        ("webhook_id", "event__webhook__webhook_id"),
        ("event_type", "event__event_type"),
    ):
        if name in request.GET:
            try:
                rows = rows.filter(**{lookup: request.GET[name]})
            except ValidationError as exc:
                raise BadInput(f"{name} is not valid") from exc
    return JsonResponse(
        {
            "deliveries": [
                {
                    "at": clock.isoformat(row.attempted_at),
                    "event_id": str(row.event.event_id),
                    "event_type": row.event.event_type,
                    "summary": row.event.summary,
                    "vehicle_id": str(row.event.vehicle.vehicle_id) if row.event.vehicle else None,
                    "webhook_id": row.event.webhook.webhook_id,
                    "attempt": row.number,
                    "delivery_id": str(row.delivery_id),
                    "status_code": row.status_code,
                    "error": row.error or None,
                    "duration_ms": row.duration_ms,
                    "event_status": row.event.status,
                    "next_attempt_at": (
                        clock.isoformat(row.event.next_attempt_at) if row.event.next_attempt_at else None
                    ),
                }
                for row in rows[:limit]
            ]
        }
    )
