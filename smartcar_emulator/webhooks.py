"""Webhooks as Smartcar runs them for the emulator's application (SMARTCAR.md §6): a webhook is set up through the
control API and verified with VERIFY; cars are subscribed through the API or enrolled when connected; a subscription
brings a VEHICLE_STATE with every subscribed signal (FIRST_DELIVERY), a change of a trigger signal another, a car
falling asleep or waking a VEHICLE_ERROR. Each event is signed and sent by a task, never by the request that raised it,
and retried 25, 50 and 100 seconds of the emulator's clock after a failed attempt, then dropped."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
import uuid
from datetime import datetime, timedelta
from functools import partial

import requests
from django.conf import settings
from django.db import transaction
from kombu.exceptions import OperationalError as KombuOperationalError

from smartcar_emulator import clock
from smartcar_emulator.errors import USER_MESSAGES, ApiError
from smartcar_emulator.models import (
    DeliveryAttempt,
    EmulatedVehicle,
    Grant,
    Knobs,
    Subscription,
    Webhook,
    WebhookEvent,
)
from smartcar_emulator.routers import database_alias
from smartcar_emulator.signals import BY_CODE, SIGNALS, Signal, epoch_ms, listed, unavailable

logger = logging.getLogger(__name__)

VERSION = "4.0"
VERIFY, VEHICLE_STATE, VEHICLE_ERROR = "VERIFY", "VEHICLE_STATE", "VEHICLE_ERROR"
# Smartcar waits 15 s for a 2xx; anything else (a 3xx too) is retried after 25, 50 and 100 s, then dropped.
TIMEOUT_SECONDS = 15
RETRY_DELAYS = (25, 50, 100)
# An attempt under way holds its event this long, so that a sweep meanwhile does not send it a second time.
ATTEMPT_LEASE = timedelta(seconds=TIMEOUT_SECONDS + 45)
# One sweep of due events (the control API's, when it moves the clock) sends at most this many.
SWEEP_LIMIT = 100

# The webhook of SMARTCAR_EMULATOR_WEBHOOK_URL, and every webhook set up without saying otherwise: every signal in
# every payload, and a delivery when one of the signals a person acts on changes (driving, charging, plugging in,
# locking).
DEFAULT_NAME = "Emulator webhook"
DEFAULT_SIGNALS = tuple(signal.code for signal in SIGNALS)
DEFAULT_TRIGGERS = (
    "odometer-traveleddistance",
    "location-preciselocation",
    "tractionbattery-stateofcharge",
    "charge-ischarging",
    "charge-ischargingcableconnected",
    "internalcombustionengine-fuellevel",
    "closure-islocked",
)


def _sign(key: str, message: bytes) -> str:
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


# --- Webhooks ------------------------------------------------------------------------------------------------------


def install_default_webhook() -> None:
    """Set up the webhook of SMARTCAR_EMULATOR_WEBHOOK_URL the first time webhooks are looked at (again after a reset),
    so that the quick start and the demo deliver to the application out of the box. It is verified before its first
    delivery: at start-up the application may not be listening yet."""
    if not settings.SMARTCAR_EMULATOR_WEBHOOK_URL or clock.knobs().default_webhook_installed:
        return
    with transaction.atomic(using=database_alias()):
        knobs = Knobs.objects.select_for_update().get(pk=1)
        if knobs.default_webhook_installed:
            return
        Webhook.objects.get_or_create(
            webhook_id=settings.SMARTCAR_EMULATOR_WEBHOOK_ID,
            defaults={
                "name": DEFAULT_NAME,
                "callback_url": settings.SMARTCAR_EMULATOR_WEBHOOK_URL,
                "management_token": settings.SMARTCAR_EMULATOR_MANAGEMENT_TOKEN,
                "signals": list(DEFAULT_SIGNALS),
                "triggers": list(DEFAULT_TRIGGERS),
                "auto_enroll": settings.SMARTCAR_EMULATOR_WEBHOOK_AUTO_ENROLL,
                "created_at": clock.now(),
            },
        )
        knobs.default_webhook_installed = True
        knobs.save(update_fields=["default_webhook_installed", "updated_at"])
    logger.info(
        "webhook %s set up for %s", settings.SMARTCAR_EMULATOR_WEBHOOK_ID, settings.SMARTCAR_EMULATOR_WEBHOOK_URL
    )


def all_webhooks() -> list[Webhook]:
    install_default_webhook()
    return list(Webhook.objects.order_by("created_at", "pk"))


def find_webhook(webhook_id: str) -> Webhook | None:
    install_default_webhook()
    return Webhook.objects.filter(webhook_id=webhook_id).first()


def configure(
    *,
    webhook_id: str,
    url: str | None = None,
    management_token: str | None = None,
    name: str | None = None,
    signals: list[str] | None = None,
    triggers: list[str] | None = None,
    auto_enroll: bool | None = None,
) -> tuple[Webhook, bool]:
    """Create the webhook or change what is given (None keeps the current value, or the default for a new one); a new
    webhook, a new callback URL or a new management token is verified at once, as Smartcar's dashboard does. The
    triggers are always among the signals. Returns the webhook and whether it is new."""
    webhook = find_webhook(webhook_id)
    created = webhook is None
    if created:
        if url is None:
            raise ValueError("a new webhook needs a url")
        webhook = Webhook(
            webhook_id=webhook_id,
            name=DEFAULT_NAME,
            management_token=settings.SMARTCAR_EMULATOR_MANAGEMENT_TOKEN,
            signals=list(DEFAULT_SIGNALS),
            triggers=list(DEFAULT_TRIGGERS),
            created_at=clock.now(),
        )
    reverify = created or (url is not None and url != webhook.callback_url)
    reverify |= management_token is not None and management_token != webhook.management_token
    for field, value in (
        ("callback_url", url),
        ("management_token", management_token),
        ("name", name),
        ("signals", signals),
        ("triggers", triggers),
        ("auto_enroll", auto_enroll),
    ):
        if value is not None:
            setattr(webhook, field, value)
    webhook.signals = [code for code in DEFAULT_SIGNALS if code in {*webhook.signals, *webhook.triggers}]
    if reverify:
        webhook.verification, webhook.verification_detail, webhook.verified_at = Webhook.Verification.PENDING, "", None
    webhook.save()
    if reverify:
        verify(webhook)
    return webhook, created


def verify(webhook: Webhook) -> bool:
    """Send VERIFY now and check the answer as Smartcar does: 200 with {"challenge": hex HMAC-SHA256 of the challenge
    under the management token}. The webhook is marked verified or not; only a verified one delivers events."""
    challenge = secrets.token_urlsafe(24)
    event = _create_event(
        webhook=webhook,
        vehicle=None,
        event_type=VERIFY,
        summary="VERIFY",
        payload={"eventType": VERIFY, "data": {"challenge": challenge}, "meta": _meta(webhook)},
    )
    now = clock.now()
    event.attempts = 1
    delivery_id = uuid.uuid4()
    status_code, error, response, duration_ms = _post(webhook, _body(event, delivery_id, now))
    if response is not None and not error:
        expected = _sign(webhook.management_token, challenge.encode())
        try:
            answered = response.json().get("challenge")
        except (ValueError, AttributeError):
            answered = None
        if response.status_code != 200:
            error = f"answered {response.status_code}, not 200"
        elif not isinstance(answered, str) or not hmac.compare_digest(answered, expected):
            error = "the answer is not the challenge's HMAC under the management token"
    _record(event, delivery_id=delivery_id, attempted_at=now, status_code=status_code, error=error, ms=duration_ms)
    verified = not error
    Webhook.objects.filter(pk=webhook.pk).update(
        verification=Webhook.Verification.VERIFIED if verified else Webhook.Verification.FAILED,
        verification_detail=error,
        verified_at=now if verified else None,
    )
    webhook.refresh_from_db()
    return verified


# --- Subscriptions -------------------------------------------------------------------------------------------------


def subscribe(*, webhook: Webhook, vehicle: EmulatedVehicle) -> bool:
    """Subscribe the car; a new subscription brings a FIRST_DELIVERY (and a VEHICLE_ERROR if the car sleeps). Whether
    it is new: subscribing a subscribed car again changes nothing."""
    with transaction.atomic(using=database_alias()):
        subscription, created = Subscription.objects.get_or_create(
            webhook=webhook, vehicle=vehicle, defaults={"created_at": clock.now()}
        )
        if created:
            _send_state(subscription, first=True)
            if vehicle.is_asleep:
                _send_sleep(subscription, asleep=True)
    return created


def unsubscribe(*, webhook: Webhook, vehicle: EmulatedVehicle) -> None:
    """No more events for the car; a later subscription starts with a FIRST_DELIVERY again."""
    Subscription.objects.filter(webhook=webhook, vehicle=vehicle).delete()


def enroll(*, vehicles: list[EmulatedVehicle]) -> None:
    """Subscribe newly connected cars to every webhook that enrolls them itself (Smartcar's auto-enrollment, how an
    application on API Authentication gets its cars subscribed)."""
    install_default_webhook()
    for webhook in Webhook.objects.filter(auto_enroll=True):
        for vehicle in vehicles:
            subscribe(webhook=webhook, vehicle=vehicle)


def forget(*, vehicle: EmulatedVehicle) -> None:
    """The application lost the car: its subscriptions end (a reconnected car is a newly connected one)."""
    Subscription.objects.filter(vehicle=vehicle).delete()


# --- Events --------------------------------------------------------------------------------------------------------


def notice_changes(vehicle: EmulatedVehicle) -> None:
    """After the car changed: a VEHICLE_ERROR to each webhook it is subscribed to if it fell asleep or woke, and a
    VEHICLE_STATE if a trigger signal changed since the last one (a sleeping car cannot be read, so it sends none)."""
    for subscription in Subscription.objects.select_related("webhook").filter(vehicle=vehicle):
        subscription.vehicle = vehicle
        if vehicle.is_asleep != subscription.reported_asleep:
            _send_sleep(subscription, asleep=vehicle.is_asleep)
        if not vehicle.is_asleep:
            _send_state(subscription, first=False)


def _scopes(vehicle: EmulatedVehicle) -> list[str] | None:
    """The permissions of the newest live approval that gave the application this car; None once none does."""
    grant = Grant.objects.live().filter(vehicles=vehicle).first()
    return grant.scopes if grant is not None else None


def _signal(vehicle: EmulatedVehicle, signal: Signal, scopes: list[str], now: datetime) -> dict:
    """One signal of a VEHICLE_STATE (smartcar.com/docs/integrations/webhooks/responses, version 4.0): its body, or an
    error status where the approval lacks its permission or the car cannot give it."""
    item = {"code": signal.code, "name": signal.name, "group": signal.group}
    if signal.permission not in scopes:
        error = ApiError("PERMISSION")
    elif not listed(vehicle, signal):
        error = ApiError("COMPATIBILITY", "VEHICLE_NOT_CAPABLE")
    else:
        error = unavailable(vehicle, signal)
    if error is not None:
        return {**item, "status": {"value": "ERROR", "error": {"type": error.error_type, "code": error.code}}}
    return {
        **item,
        "body": signal.read(vehicle, "metric"),
        "status": {"value": "SUCCESS"},
        "meta": {"retrievedAt": epoch_ms(now), "oemUpdatedAt": epoch_ms(vehicle.state_updated_at)},
    }


def _send_state(subscription: Subscription, *, first: bool) -> None:
    """A VEHICLE_STATE with every subscribed signal: FIRST_DELIVERY, or naming the trigger signals that changed since
    the last one (none changed: nothing is sent)."""
    vehicle, webhook = subscription.vehicle, subscription.webhook
    scopes = _scopes(vehicle)
    if scopes is None:
        return
    now = clock.now()
    signals = [_signal(vehicle, BY_CODE[code], scopes, now) for code in webhook.signals if code in BY_CODE]
    values = {item["code"]: {"status": item["status"], "body": item.get("body")} for item in signals}
    if first:
        triggers, summary = [{"type": "FIRST_DELIVERY"}], "FIRST_DELIVERY"
    else:
        changed = [
            code for code in webhook.triggers if code in values and values[code] != subscription.last_sent.get(code)
        ]
        if not changed:
            return
        triggers = [
            {
                "type": "SIGNAL_UPDATED",
                "signal": {"code": code, "name": BY_CODE[code].name, "group": BY_CODE[code].group},
            }
            for code in changed
        ]
        summary = "SIGNAL_UPDATED " + ", ".join(changed)
    _create_event(
        webhook=webhook,
        vehicle=vehicle,
        event_type=VEHICLE_STATE,
        summary=summary,
        payload={
            "eventType": VEHICLE_STATE,
            "vehicleId": str(vehicle.vehicle_id),
            "data": {"user": _user(vehicle), "vehicle": _vehicle(vehicle), "signals": signals},
            "triggers": triggers,
            "meta": {**_meta(webhook), "signalCount": len(signals)},
        },
    )
    subscription.last_sent = values
    subscription.save(update_fields=["last_sent"])


def _send_sleep(subscription: Subscription, *, asleep: bool) -> None:
    """VEHICLE_ERROR VEHICLE_STATE/ASLEEP when the car falls asleep, the same with state RESOLVED when it wakes
    (smartcar.com/docs/api-reference/webhooks/events/vehicle-error), naming the subscribed signals it affects."""
    vehicle, webhook = subscription.vehicle, subscription.webhook
    affected = [BY_CODE[code] for code in webhook.signals if code in BY_CODE and not BY_CODE[code].static]
    error = ApiError("VEHICLE_STATE", "ASLEEP")
    if asleep:
        entry = {
            "type": error.error_type,
            "code": error.code,
            "state": "ERROR",
            "description": error.description,
            "suggestedUserMessage": USER_MESSAGES[error.error_type],
            "docURL": error.doc_url(),
            "resolution": {"type": error.resolution},
        }
    else:
        entry = {
            "type": error.error_type,
            "code": error.code,
            "state": "RESOLVED",
            "description": "The vehicle is awake.",
        }
    entry["signals"] = [{"code": s.code, "name": s.name, "group": s.group} for s in affected]
    _create_event(
        webhook=webhook,
        vehicle=vehicle,
        event_type=VEHICLE_ERROR,
        summary="ASLEEP" if asleep else "ASLEEP RESOLVED",
        payload={
            "eventType": VEHICLE_ERROR,
            "vehicleId": str(vehicle.vehicle_id),
            "data": {"user": _user(vehicle), "vehicle": _vehicle(vehicle), "errors": [entry]},
            "meta": _meta(webhook),
        },
    )
    subscription.reported_asleep = asleep
    subscription.save(update_fields=["reported_asleep"])


def _user(vehicle: EmulatedVehicle) -> dict:
    return {"id": str(vehicle.owner.smartcar_id)}


def _vehicle(vehicle: EmulatedVehicle) -> dict:
    return {
        "id": str(vehicle.vehicle_id),
        "make": vehicle.make,
        "model": vehicle.model,
        "year": vehicle.year,
        "vin": vehicle.vin,
    }


def _meta(webhook: Webhook) -> dict:
    """The delivery metadata that stays the same across attempts; each attempt adds deliveryId and deliveredAt."""
    return {"webhookId": webhook.webhook_id, "webhookName": webhook.name, "mode": "TEST"}


def _create_event(
    *, webhook: Webhook, vehicle: EmulatedVehicle | None, event_type: str, summary: str, payload: dict
) -> WebhookEvent:
    """Store the event, due now, and queue its delivery once the change that raised it is committed. VERIFY is sent by
    its caller at once, never by a task or a sweep: it is never due."""
    event_id, now = uuid.uuid4(), clock.now()
    event = WebhookEvent.objects.create(
        event_id=event_id,
        webhook=webhook,
        vehicle=vehicle,
        event_type=event_type,
        summary=summary[:255],
        payload={"eventId": str(event_id), **payload},
        next_attempt_at=None if event_type == VERIFY else now,
        created_at=now,
    )
    if event_type != VERIFY:
        transaction.on_commit(partial(_queue, event.pk), using=database_alias())
    return event


def _queue(event_pk: int, countdown: float | None = None) -> None:
    from smartcar_emulator.tasks import QUEUE, deliver_webhook_event  # the task calls this module: imported here

    try:
        deliver_webhook_event.apply_async((event_pk,), countdown=countdown, queue=QUEUE)
    except KombuOperationalError as exc:
        # Stored and due: the next sweep (the control API moving the clock) sends it.
        logger.warning("could not queue webhook event %s: %s", event_pk, type(exc).__name__)


# --- Delivery ------------------------------------------------------------------------------------------------------


def deliver(*, event_pk: int) -> None:
    """Attempt the event if it is due on the emulator's clock, and queue the next attempt if this one failed. An event
    that is not due (another attempt came first and queued its own follow-up), delivered or dropped is left alone."""
    wait = _attempt(event_pk)
    if wait is not None:
        _queue(event_pk, countdown=wait)


def deliver_due() -> int:
    """Attempt every event that is due now on the emulator's clock (at most SWEEP_LIMIT); how many were attempted.
    The control API runs it when it moves the clock, so that a test drives Smartcar's retry schedule."""
    due = list(
        WebhookEvent.objects.filter(status=WebhookEvent.Status.PENDING, next_attempt_at__lte=clock.now())
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:SWEEP_LIMIT]
    )
    for event_pk in due:
        deliver(event_pk=event_pk)
    return len(due)


def _claim(event_pk: int, now: datetime) -> WebhookEvent | None:
    """The event, if it is pending and due, counted as attempted and held for the attempt's length; else None."""
    with transaction.atomic(using=database_alias()):
        event = (
            WebhookEvent.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("webhook", "vehicle")
            .filter(pk=event_pk, status=WebhookEvent.Status.PENDING, next_attempt_at__lte=now)
            .first()
        )
        if event is None:
            return None
        event.attempts += 1
        event.next_attempt_at = now + ATTEMPT_LEASE
        event.save(update_fields=["attempts", "next_attempt_at"])
    return event


def _attempt(event_pk: int) -> float | None:
    """One attempt of a due event; the seconds until the next one if it failed and Smartcar would retry it, else
    None. Events of a webhook that is not verified are not sent: each attempt fails and is logged as such."""
    now = clock.now()
    event = _claim(event_pk, now)
    if event is None:
        return None
    webhook = event.webhook
    if webhook.verification == Webhook.Verification.PENDING:
        verify(webhook)
        now = clock.now()
    delivery_id = uuid.uuid4()
    if webhook.verification == Webhook.Verification.VERIFIED:
        status_code, error, _, duration_ms = _post(webhook, _body(event, delivery_id, now))
    else:
        status_code, error, duration_ms = None, "not sent: the webhook is not verified", 0
    return _record(
        event, delivery_id=delivery_id, attempted_at=now, status_code=status_code, error=error, ms=duration_ms
    )


def _body(event: WebhookEvent, delivery_id: uuid.UUID, now: datetime) -> bytes:
    payload = dict(event.payload)
    meta = {"version": VERSION, "deliveryId": str(delivery_id), "deliveredAt": epoch_ms(now), **payload["meta"]}
    return json.dumps({**payload, "meta": meta}).encode()


def _post(webhook: Webhook, body: bytes) -> tuple[int | None, str, requests.Response | None, int]:
    """POST a signed body to the webhook: the status code, why it failed ("" if it did not), the answer, the time."""
    headers = {
        "Content-Type": "application/json",
        "SC-Signature": _sign(webhook.management_token, body),
        "User-Agent": f"Smartcar/{VERSION}",
    }
    started = time.monotonic()
    try:
        # No redirects: Smartcar counts a 3xx as a failure.
        response = requests.post(
            webhook.callback_url, data=body, headers=headers, timeout=TIMEOUT_SECONDS, allow_redirects=False
        )
    except requests.Timeout:
        return None, f"no answer within {TIMEOUT_SECONDS} s", None, int((time.monotonic() - started) * 1000)
    except requests.RequestException as exc:
        return None, f"could not connect: {type(exc).__name__}", None, int((time.monotonic() - started) * 1000)
    duration_ms = int((time.monotonic() - started) * 1000)
    error = "" if 200 <= response.status_code < 300 else f"answered {response.status_code}"
    return response.status_code, error, response, duration_ms


def _record(
    event: WebhookEvent, *, delivery_id: uuid.UUID, attempted_at: datetime, status_code: int | None, error: str, ms: int
) -> float | None:
    """Log the attempt and settle the event: delivered, retried on Smartcar's schedule, or dropped (VERIFY is never
    retried: the dashboard shows that it failed). The seconds until the retry, or None."""
    retry_in = None
    if not error:
        event.status, event.next_attempt_at = WebhookEvent.Status.DELIVERED, None
    elif event.event_type == VERIFY or event.attempts > len(RETRY_DELAYS):
        event.status, event.next_attempt_at = WebhookEvent.Status.DROPPED, None
    else:
        retry_in = RETRY_DELAYS[event.attempts - 1]
        event.next_attempt_at = attempted_at + timedelta(seconds=retry_in)
    with transaction.atomic(using=database_alias()):
        DeliveryAttempt.objects.create(
            event=event,
            delivery_id=delivery_id,
            number=event.attempts,
            attempted_at=attempted_at,
            status_code=status_code,
            error=error[:255],
            duration_ms=ms,
        )
        event.save(update_fields=["status", "attempts", "next_attempt_at"])
    logger.log(
        logging.INFO if not error else logging.WARNING,
        "webhook %s %s %s attempt %d: %s",
        event.webhook.webhook_id,
        event.event_type,
        event.event_id,
        event.attempts,
        error or "delivered",
    )
    return retry_in
