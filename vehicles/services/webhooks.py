"""Webhooks: Smartcar's deliveries received safely (signature first, stored once by eventId, answered at once) and
processed in the background (signals newest-first by the car's own timestamps, vehicle errors set and resolved).
Smartcar's delivery format: docs/webhooks.md."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from vehicles import smartcar_client
from vehicles.models import SmartcarConnection, Vehicle, WebhookEvent
from vehicles.services import history, vehicle_data
from vehicles.services.tokens import with_access_token
from vehicles.smartcar_client import SmartcarError

logger = logging.getLogger(__name__)

# Smartcar's deliveries carry every subscribed signal of one car: a few tens of kilobytes. Anything near this is not
# one of them.
MAX_BODY_BYTES = 1024 * 1024
EVENT_TYPES = ("VERIFY", "VEHICLE_STATE", "VEHICLE_ERROR")
# A VEHICLE_ERROR whose state is this clears the error it reported earlier.
RESOLVED = "RESOLVED"


@dataclass(frozen=True)
class Answer:
    """What the receiver answers: an HTTP status and a small JSON body."""

    status: int
    body: dict


def signature_is_valid(body: bytes, signature: str | None) -> bool:
    """Whether `signature` (SC-Signature) is the hex HMAC-SHA256 of the raw body under any configured management
    token, compared in constant time."""
    if not signature:
        return False
    return any(
        hmac.compare_digest(_hmac(token, body), signature.strip().lower())
        for token in settings.SMARTCAR_MANAGEMENT_TOKENS
    )


def _hmac(key: str, message: bytes) -> str:
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def receive(*, body: bytes, signature: str | None) -> Answer:
    """Check, store and acknowledge one delivery; its processing is queued. Nothing is stored unless it is signed."""
    if not settings.SMARTCAR_MANAGEMENT_TOKENS:
        logger.error("webhook delivery refused: SMARTCAR_MANAGEMENT_TOKENS is not set")
        return Answer(503, {"error": "webhooks are not configured here"})
    if not signature_is_valid(body, signature):
        # Even VERIFY: answering an unsigned challenge would hand anyone a signature of any text they chose.
        return Answer(401, {"error": "missing or invalid SC-Signature"})
    try:
        payload = json.loads(body)
        if not isinstance(payload, dict):
            raise ValueError("not an object")
    except ValueError:
        # Signed by Smartcar, so a retry would bring the same bytes: keep them for support and acknowledge.
        return _store_rejected(body, "the body is not a JSON object")
    event_type = payload.get("eventType")
    if event_type == "VERIFY":
        challenge = (payload.get("data") or {}).get("challenge")
        if not isinstance(challenge, str):
            return _store_rejected(body, "VERIFY without a challenge")
        return Answer(200, {"challenge": _hmac(settings.SMARTCAR_MANAGEMENT_TOKENS[0], challenge.encode())})
    event_id = payload.get("eventId")
    if not isinstance(event_id, str) or not event_id or len(event_id) > 100:
        return _store_rejected(body, "no usable eventId")
    if event_type not in EVENT_TYPES:
        return _store_rejected(body, f"unknown event type {str(event_type)[:50]!r}", event_id=event_id)
    vehicle_id = payload.get("vehicleId") or ((payload.get("data") or {}).get("vehicle") or {}).get("id") or ""
    try:
        with transaction.atomic():
            event = WebhookEvent.objects.create(
                event_id=event_id,
                event_type=event_type,
                smartcar_vehicle_id=str(vehicle_id)[:100],
                body=body.decode("utf-8", errors="replace"),
            )
    except IntegrityError:
        # Smartcar delivers at least once: the same eventId again is acknowledged and not processed twice.
        return Answer(200, {"status": "duplicate"})
    _queue_processing(event.pk)
    return Answer(200, {"status": "accepted"})


def _store_rejected(body: bytes, detail: str, *, event_id: str | None = None) -> Answer:
    """A signed delivery we cannot use: kept, and answered 200 so that Smartcar does not retry what will never
    parse (its retries would bring the same bytes)."""
    key = event_id or f"rejected-{hashlib.sha256(body).hexdigest()[:64]}"
    with contextlib.suppress(IntegrityError), transaction.atomic():
        WebhookEvent.objects.create(
            event_id=key,
            body=body.decode("utf-8", errors="replace"),
            outcome=WebhookEvent.Outcome.REJECTED,
            detail=detail[:255],
            processed_at=timezone.now(),
        )
    logger.warning("webhook delivery rejected: %s", detail)
    return Answer(200, {"status": "rejected"})


def _queue_processing(event_pk: int) -> None:
    from vehicles.tasks import process_webhook_event  # the tasks call these services: imported where it is sent

    try:
        process_webhook_event.delay_on_commit(event_pk)
    except KombuOperationalError as exc:
        # Stored: beat's sweep of pending events processes it once the broker is back.
        logger.warning("could not queue webhook event %s: %s", event_pk, type(exc).__name__)


def pending_event_ids(*, older_than_seconds: int = 60) -> list[int]:
    """Events stored but never processed (the broker was down, a worker died): beat queues them again."""
    cutoff = timezone.now() - timezone.timedelta(seconds=older_than_seconds)
    return list(
        WebhookEvent.objects.filter(outcome=WebhookEvent.Outcome.PENDING, received_at__lt=cutoff)
        .order_by("received_at")
        .values_list("pk", flat=True)[:1000]
    )


def process_event(*, event_pk: int) -> WebhookEvent | None:
    """Apply one stored delivery to the vehicles it names; records the outcome. A second run does nothing."""
    started = time.monotonic()
    with transaction.atomic():
        event = WebhookEvent.objects.select_for_update(skip_locked=True).filter(pk=event_pk).first()
        if event is None or event.outcome != WebhookEvent.Outcome.PENDING:
            return event
        payload = json.loads(event.body)
        # The cars' rows only: a connection's row is its refresher's to lock, and its tokens are not needed here.
        vehicles = list(
            Vehicle.objects.select_for_update(of=("self",))
            .select_related("connection")
            .defer("connection__access_token", "connection__refresh_token")
            .filter(smartcar_vehicle_id=event.smartcar_vehicle_id)
            .order_by("pk")
        )
        user_id = ((payload.get("data") or {}).get("user") or {}).get("id")
        if user_id:
            # With API Authentication the user id names whose car it is; a car two people connected through different
            # Smartcar accounts is updated for each of them alike.
            vehicles = [vehicle for vehicle in vehicles if _same_user(vehicle, user_id)] or vehicles
        if not vehicles:
            event.outcome, event.detail = WebhookEvent.Outcome.IGNORED, "no connected vehicle has this id"
        elif event.event_type == "VEHICLE_STATE":
            changed = sum(_apply_signals(vehicle, payload) for vehicle in vehicles)
            event.outcome, event.detail = WebhookEvent.Outcome.PROCESSED, f"{changed} signal(s) updated"
        else:
            for vehicle in vehicles:
                _apply_error(vehicle, payload)
            event.outcome, event.detail = WebhookEvent.Outcome.PROCESSED, _error_summary(payload)
        event.processed_at = timezone.now()
        event.processing_ms = int((time.monotonic() - started) * 1000)
        event.save(update_fields=["outcome", "detail", "processed_at", "processing_ms"])
    logger.info("webhook event %s %s: %s", event.event_type, event.outcome, event.detail)
    return event


def _same_user(vehicle: Vehicle, user_id: str) -> bool:
    connection = vehicle.connection
    return connection.api_user_id is None or connection.smartcar_user_id == user_id


def _reported_at(stored: dict) -> str:
    """A stored signal's own time, for ordering: when the car updated it, else when Smartcar read it."""
    return stored.get("oem_updated_at") or stored.get("retrieved_at") or ""


def _apply_signals(vehicle: Vehicle, payload: dict) -> int:
    """Store each pushed signal unless the vehicle already holds a newer reading of it (deliveries arrive out of
    order and are retried). How many signals changed."""
    data = payload.get("data") or {}
    signals = vehicle.data.setdefault("signals", {}) if isinstance(vehicle.data, dict) else {}
    before = dict(signals)
    changed = 0
    for item in data.get("signals") or []:
        if not isinstance(item, dict) or not item.get("code"):
            continue
        incoming = vehicle_data.stored_signal(_pushed_signal(item))
        current = signals.get(item["code"])
        if current is not None and _reported_at(current) >= _reported_at(incoming):
            continue
        signals[str(item["code"])] = incoming
        changed += 1
    if changed:
        now = timezone.now()
        vehicle.data = {**vehicle.data, "signals": signals}
        vehicle.data_fetched_at = vehicle.data_pushed_at = now
        vehicle.save(update_fields=["data", "data_fetched_at", "data_pushed_at", "updated_at"])
        history.record_change(vehicle=vehicle, before=before, after=signals)
    return changed


def _pushed_signal(item: dict) -> smartcar_client.Signal:
    """A pushed signal (VEHICLE_STATE's data.signals[]) as the v3 API's: its status may be a bare string, and its
    error may sit beside the status."""
    meta = item.get("meta") or {}
    status = item.get("status") or {}
    value = status.get("value") if isinstance(status, dict) else status
    error = (status.get("error") if isinstance(status, dict) else None) or item.get("error") or {}
    ok = (value or ("ERROR" if error else "SUCCESS")) == "SUCCESS"
    return smartcar_client.Signal(
        code=str(item["code"]),
        status="SUCCESS" if ok else str(value or "ERROR"),
        body=item.get("body") or {},
        retrieved_at=smartcar_client.epoch_ms(meta.get("retrievedAt")),
        oem_updated_at=smartcar_client.epoch_ms(meta.get("oemUpdatedAt")),
        error_type=str(error.get("type") or ""),
        error_code=str(error.get("code") or ""),
    )


def _errors(payload: dict) -> list[dict]:
    """The {type, code, state} errors of a VEHICLE_ERROR delivery (a list under data.errors, or one under data.error),
    the state inherited from data.state where an error has none."""
    data = payload.get("data") or {}
    errors = data.get("errors") or ([data.get("error")] if data.get("error") else [])
    state = data.get("state")
    return [{"state": state, **error} for error in errors if isinstance(error, dict)]


def _resolved(errors: list[dict], payload: dict) -> bool:
    if str((payload.get("data") or {}).get("state") or "").upper() == RESOLVED:
        return True
    return not errors or all(str(error.get("state") or "").upper() == RESOLVED for error in errors)


def _apply_error(vehicle: Vehicle, payload: dict) -> None:
    errors = _errors(payload)
    if _resolved(errors, payload):
        vehicle.state_error_type = vehicle.state_error_code = ""
        vehicle.state_error_at = None
    else:
        first = next(error for error in errors if str(error.get("state") or "").upper() != RESOLVED)
        vehicle.state_error_type = str(first.get("type") or "")[:50]
        vehicle.state_error_code = str(first.get("code") or "")[:50]
        vehicle.state_error_at = timezone.now()
    vehicle.save(update_fields=["state_error_type", "state_error_code", "state_error_at", "updated_at"])


def _error_summary(payload: dict) -> str:
    errors = _errors(payload)
    if _resolved(errors, payload):
        return "resolved"
    return ", ".join(f"{error.get('type')}/{error.get('code')}" for error in errors)[:255]


# --- Subscriptions ----------------------------------------------------------------------------------------------


def subscribe(*, vehicle_id: int) -> bool:
    """Subscribe a newly connected car to SMARTCAR_WEBHOOK_ID; whether an API call was made. Cars on API
    Authentication are enrolled by Smartcar itself (the webhook's auto-enrollment in the dashboard). Failures are
    recorded on the vehicle for the admin and raised for the task to retry."""
    vehicle = Vehicle.objects.select_related("connection").filter(pk=vehicle_id).first()
    webhook_id = settings.SMARTCAR_WEBHOOK_ID
    if vehicle is None or not webhook_id or vehicle.webhook_subscribed_at is not None:
        return False
    if vehicle.connection.auth == SmartcarConnection.Auth.APPLICATION:
        return False
    try:
        with_access_token(
            vehicle.connection,
            lambda token: smartcar_client.subscribe_webhook(
                access_token=token, vehicle_id=vehicle.smartcar_vehicle_id, webhook_id=webhook_id
            ),
        )
    except SmartcarError as exc:
        Vehicle.objects.filter(pk=vehicle.pk).update(webhook_error=f"{type(exc).__name__}: {exc}"[:255])
        raise
    Vehicle.objects.filter(pk=vehicle.pk).update(webhook_subscribed_at=timezone.now(), webhook_error="")
    logger.info("vehicle subscribed to the webhook vehicle_id=%s", vehicle.pk)
    return True


def unsubscribe(*, vehicle: Vehicle) -> None:
    """Stop the webhook's deliveries for a car being disconnected, unless another account here still holds it.
    Best effort: a failure is logged, and Smartcar stops delivering for a revoked car anyway."""
    webhook_id = settings.SMARTCAR_WEBHOOK_ID
    if not webhook_id or not settings.SMARTCAR_MANAGEMENT_TOKENS or vehicle.webhook_subscribed_at is None:
        return
    others = Vehicle.objects.filter(smartcar_vehicle_id=vehicle.smartcar_vehicle_id).exclude(pk=vehicle.pk)
    if others.filter(connection__status=SmartcarConnection.Status.ACTIVE).exists():
        return
    try:
        smartcar_client.unsubscribe_webhook(
            management_token=settings.SMARTCAR_MANAGEMENT_TOKENS[0],
            vehicle_id=vehicle.smartcar_vehicle_id,
            webhook_id=webhook_id,
        )
    except SmartcarError as exc:
        logger.warning("could not unsubscribe vehicle_id=%s from the webhook: %s", vehicle.pk, type(exc).__name__)
