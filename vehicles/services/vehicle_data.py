"""Vehicle data: fetching a car's signals on request or on a schedule, honouring Smartcar's per-vehicle waits."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from kombu.exceptions import OperationalError as KombuOperationalError

from vehicles import smartcar_client
from vehicles.models import SmartcarConnection, Vehicle
from vehicles.presentation import smartcar_error_message
from vehicles.services import history
from vehicles.services.tokens import with_access_token
from vehicles.smartcar_client import ReauthRequired, SmartcarError

logger = logging.getLogger(__name__)

# When Smartcar rate-limits a vehicle without saying for how long.
DEFAULT_RETRY_AFTER = timedelta(seconds=60)
# A queued fetch that has not landed after this long is no longer shown as in progress.
SYNC_PENDING_FOR = timedelta(minutes=2)
# The signal that carries the car's VIN (Smartcar's VehicleIdentification.VIN).
VIN_SIGNAL = "vehicleidentification-vin"


class VehicleBusy(Exception):
    """Smartcar asked us to leave this vehicle alone until `until`; nothing was sent."""

    def __init__(self, until: datetime) -> None:
        wait = max(until - timezone.now(), timedelta(seconds=1))
        minutes = round(wait.total_seconds() / 60)
        after = f"about {minutes} minute{'s' if minutes != 1 else ''}" if minutes else "less than a minute"
        super().__init__(
            f"Smartcar asked us to wait until {until:%H:%M:%S} UTC ({after} from now) before asking your car again."
        )
        self.until = until


class SyncNotQueued(Exception):
    """The fetch could not be queued (the task broker is down); nothing changed."""


def check_retry_window(vehicle: Vehicle) -> None:
    # Read from the database, not the instance: another process may have been told to wait a moment ago.
    until = Vehicle.objects.filter(pk=vehicle.pk).values_list("retry_not_before", flat=True).first()
    if until is not None and until > timezone.now():
        raise VehicleBusy(until)


def note_rate_limit(vehicle: Vehicle, error: SmartcarError) -> None:
    if isinstance(error, smartcar_client.Transient) and (error.status == 429 or error.error_type == "RATE_LIMIT"):
        wait = timedelta(seconds=error.retry_after) if error.retry_after is not None else DEFAULT_RETRY_AFTER
        vehicle.retry_not_before = timezone.now() + wait
        Vehicle.objects.filter(pk=vehicle.pk).update(retry_not_before=vehicle.retry_not_before)


def failure_message(*, vehicle: Vehicle, error: VehicleBusy | SmartcarError, reconnect_to: str) -> str:
    """What to tell the person about a call for `vehicle` that failed, after noting a rate limit on the vehicle:
    Smartcar's error type and code in a driver's words (presentation.SMARTCAR_ERRORS), else what our own error class
    says (a network failure, a timeout). `reconnect_to` ends the advice for a grant Smartcar no longer accepts."""
    if isinstance(error, VehicleBusy):
        return str(error)
    if isinstance(error, ReauthRequired):
        return f"Smartcar no longer accepts this connection. Reconnect your car to {reconnect_to}."
    note_rate_limit(vehicle, error)
    # Smartcar's suggestedUserMessage (the error's user_message when there is one) is written for developers to adapt.
    message = smartcar_error_message(error_type=error.error_type, code=error.code) or type(error).default_user_message
    if vehicle.retry_not_before and vehicle.retry_not_before > timezone.now():
        return f"{message} {VehicleBusy(vehicle.retry_not_before)}"
    return message


def request_sync(*, vehicle: Vehicle) -> None:
    """Queue a fetch of the vehicle's data; the page shows the old data until it lands."""
    from vehicles.tasks import sync_vehicle  # the tasks call these services: imported where the task is sent

    check_retry_window(vehicle)
    vehicle.sync_requested_at = timezone.now()
    Vehicle.objects.filter(pk=vehicle.pk).update(sync_requested_at=vehicle.sync_requested_at)
    try:
        sync_vehicle.delay_on_commit(vehicle.pk)
    except KombuOperationalError as exc:
        Vehicle.objects.filter(pk=vehicle.pk).update(sync_requested_at=None)
        logger.warning("could not queue a vehicle fetch vehicle_id=%s: %s", vehicle.pk, type(exc).__name__)
        raise SyncNotQueued from exc


@sensitive_variables()
def sync_vehicle_data(*, vehicle_id: int) -> Vehicle | None:
    """Fetch every signal of the vehicle in one call and store them as its latest snapshot. Failures are stored
    as a message for the person; nothing is raised except for a vehicle that no longer exists."""
    vehicle = Vehicle.objects.select_related("connection").filter(pk=vehicle_id).first()
    if vehicle is None:
        return None
    message = ""
    try:
        check_retry_window(vehicle)
        signals = with_access_token(
            vehicle.connection,
            lambda token: smartcar_client.get_signals(
                access_token=token, vehicle_id=vehicle.smartcar_vehicle_id, user_id=vehicle.connection.api_user_id
            ),
        )
    except (VehicleBusy, SmartcarError) as exc:
        message = failure_message(vehicle=vehicle, error=exc, reconnect_to="see its data")
    else:
        before = (vehicle.data or {}).get("signals") or {}
        vehicle.data = {"signals": {signal.code: stored_signal(signal) for signal in signals}}
        # A fetch without the VIN (a grant without read_vin, a car that could not say) keeps the one known.
        vehicle.vin = _vin(signals) or vehicle.vin
        vehicle.data_fetched_at = timezone.now()
    vehicle.sync_error = message[:300]
    vehicle.sync_requested_at = None
    vehicle.save(update_fields=["data", "vin", "data_fetched_at", "sync_error", "sync_requested_at", "updated_at"])
    if not message:
        history.record_change(vehicle=vehicle, before=before, after=vehicle.data["signals"])
    logger.info("vehicle fetch vehicle_id=%s outcome=%s", vehicle_id, "failed" if message else "ok")
    return vehicle


def _vin(signals: list[smartcar_client.Signal]) -> str:
    for signal in signals:
        value = signal.body.get("value")
        # A VIN has 17 characters (ISO 3779): a longer value is not one.
        if signal.code == VIN_SIGNAL and signal.status == "SUCCESS" and isinstance(value, str) and len(value) <= 17:
            return value
    return ""


def stored_signal(signal: smartcar_client.Signal) -> dict:
    """A signal in the shape a vehicle's data keeps it, whether fetched or pushed by the webhook."""
    return {
        "status": signal.status,
        "body": signal.body,
        "retrieved_at": signal.retrieved_at.isoformat() if signal.retrieved_at else None,
        "oem_updated_at": signal.oem_updated_at.isoformat() if signal.oem_updated_at else None,
        # Why the car could not give it (e.g. VEHICLE_STATE / ASLEEP), for the page to say so.
        "error": {"type": signal.error_type, "code": signal.error_code} if signal.status != "SUCCESS" else None,
    }


# A car the webhook pushed data for within this many sync intervals is left to the webhook: polling is the fallback.
PUSH_KEEPS_FRESH_INTERVALS = 4


def stale_vehicle_ids() -> list[int]:
    """Vehicles on ACTIVE connections whose data is older than the periodic sync interval, unless the webhook has
    pushed their data lately."""
    interval = timedelta(minutes=settings.VEHICLE_DATA_SYNC_MINUTES)
    now = timezone.now()
    return list(
        Vehicle.objects.filter(connection__status=SmartcarConnection.Status.ACTIVE)
        .filter(Q(data_fetched_at__isnull=True) | Q(data_fetched_at__lt=now - interval))
        .exclude(retry_not_before__gt=now)
        .exclude(data_pushed_at__gt=now - PUSH_KEEPS_FRESH_INTERVALS * interval)
        .values_list("pk", flat=True)
    )
