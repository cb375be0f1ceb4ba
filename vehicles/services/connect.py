"""Connect: start it with a single-use state, finish it by exchanging the code and storing the connection and its
vehicles."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from kombu.exceptions import OperationalError as KombuOperationalError

from accounts.models import User
from config.redirects import safe_return_to
from vehicles import smartcar_client
from vehicles.models import PendingConnect, SmartcarConnection, Vehicle
from vehicles.services.tokens import with_access_token
from vehicles.services.vehicle_data import SyncNotQueued, VehicleBusy, request_sync
from vehicles.smartcar_client import SmartcarError, Transient

logger = logging.getLogger(__name__)

# What a Smartcar user id looks like (a UUID); anything else on the redirect is refused before it is stored.
SMARTCAR_USER_ID = re.compile(r"[A-Za-z0-9-]{1,100}")
# Smartcar's own limit for finishing Connect is similar; a stale state is more likely replayed than late.
STATE_LIFETIME = timedelta(minutes=10)
# Once the code is exchanged the grant is live at Smartcar, and storing it waits on one read: whose it is. A passing
# failure of that read is tried again after these pauses, while the request's time budget lasts.
USER_ID_RETRY_PAUSES = (0.5, 1.0, 2.0)
# A make as Smartcar names it ("TESLA", "MERCEDES-BENZ", "LAND ROVER"): anything else is not passed on to Connect.
MAKE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 -]{0,39}")


CONNECT_ERROR_MESSAGES = {
    "access_denied": "You chose not to give access to your car, so nothing was connected.",
    "user_manually_returned_to_application": (
        "You returned before finishing Smartcar Connect, so nothing was connected."
    ),
    "no_vehicles": "Smartcar found no vehicles in that connected-services account, so nothing was connected.",
    "vehicle_incompatible": "That vehicle cannot be connected through Smartcar yet, so nothing was connected.",
    "invalid_subscription": (
        "The car's connected-services subscription is not active. Activate it with the car maker, then try again."
    ),
    "configuration_error": "Smartcar reported a problem with this site's setup. Please try again later.",
    "server_error": "Smartcar had a problem finishing Connect. Please try again in a few minutes.",
}
UNKNOWN_CONNECT_ERROR = "Smartcar Connect did not finish, so nothing was connected. Please try again."


class ConnectFailed(Exception):
    """The Connect callback cannot be completed; the message is for the person and names what happened."""


class StateRejected(ConnectFailed):
    """The callback's `state` is missing, unknown, someone else's, expired or already used."""


@dataclass(frozen=True)
class ConnectResult:
    connection: SmartcarConnection
    # None while the vehicles are still being listed (Smartcar failed to list them during Connect).
    vehicle_count: int | None
    reconnected: bool
    return_to: str


def _state_hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def start_connect(*, user: User, return_to: str | None = None, make: str | None = None) -> str:
    """Record a fresh `state` for this user and return the Smartcar Connect URL to send them to; with `make`,
    Connect skips its brand list and opens that make's sign-in (a reconnect of a car already known)."""
    now = timezone.now()
    PendingConnect.objects.filter(user=user, expires_at__lt=now).delete()
    state = secrets.token_urlsafe(32)  # 256 bits
    scopes = list(settings.SMARTCAR_SCOPES)
    PendingConnect.objects.create(
        state_hash=_state_hash(state),
        user=user,
        return_to=safe_return_to(return_to),
        scopes=scopes,
        expires_at=now + STATE_LIFETIME,
    )
    make = make.upper() if make and MAKE.fullmatch(make) else None
    return smartcar_client.authorization_url(state=state, scopes=scopes, make=make)


# What a stale callback says, whatever made it stale (reopened from the history, expired, already used, started in
# another browser or account, or its row long since cleaned up): the person can only start again, and someone else's
# state must not read differently from one that expired.
STALE_STATE = "This Smartcar Connect link has expired, so nothing was connected. Connect again to try once more."


def _claim_state(*, user: User, state: str | None) -> PendingConnect:
    if not state:
        raise StateRejected("This page can only be reached from Smartcar Connect. Connect your car to try again.")
    pending = PendingConnect.objects.filter(state_hash=_state_hash(state)).first()
    now = timezone.now()
    if pending is None or pending.user_id != user.pk or pending.consumed_at is not None or pending.expires_at <= now:
        raise StateRejected(STALE_STATE)
    # One atomic UPDATE: of two racing callbacks with the same state, exactly one changes the row.
    if not PendingConnect.objects.filter(pk=pending.pk, consumed_at__isnull=True).update(consumed_at=now):
        raise StateRejected(STALE_STATE)
    return pending


@sensitive_variables()
def finish_connect(
    *, user: User, state: str | None, code: str | None, error: str | None = None, smartcar_user_id: str | None = None
) -> ConnectResult:
    """Complete Connect: check `state` first, then store the connection and its vehicles: with the tokens the code is
    exchanged for, or, with API Authentication, with the Smartcar user id the redirect carries (the code is not used).

    Once the grant is live at Smartcar the connection is stored at once: if listing its vehicles then fails, they are
    listed again in the background rather than leaving a grant nobody holds."""
    pending = _claim_state(user=user, state=state)
    if error:
        raise ConnectFailed(CONNECT_ERROR_MESSAGES.get(error, UNKNOWN_CONNECT_ERROR))
    application = settings.SMARTCAR_AUTH == "application"
    if application and not SMARTCAR_USER_ID.fullmatch(smartcar_user_id or ""):
        raise ConnectFailed(UNKNOWN_CONNECT_ERROR)
    if not application and not code:
        raise ConnectFailed(UNKNOWN_CONNECT_ERROR)

    with smartcar_client.time_budget(settings.SMARTCAR_WEB_TIME_BUDGET):
        if application:
            connection, created = _store_application_connection(
                user=user, smartcar_user_id=smartcar_user_id, scopes=pending.scopes
            )
        else:
            try:
                tokens = smartcar_client.exchange_code(code=code)
                smartcar_user_id = _user_id(tokens.access_token)
            except SmartcarError as exc:
                raise ConnectFailed(f"Your car could not be connected: {exc.user_message}") from exc
            connection, created = _store_connection(
                user=user, smartcar_user_id=smartcar_user_id, tokens=tokens, scopes=pending.scopes
            )
        try:
            attributes = with_access_token(connection, lambda token: _fetch_vehicles(token, connection))
        except SmartcarError as exc:
            from vehicles import tasks  # the tasks call these services: imported where the task is sent

            logger.warning(
                "connect stored connection_id=%s but listing its vehicles failed (%s); listing again in the background",
                connection.pk,
                type(exc).__name__,
            )
            with contextlib.suppress(KombuOperationalError):
                tasks.list_connection_vehicles.delay(connection.pk)
            attributes = None
    if attributes is not None:
        _store_vehicles(connection=connection, attributes=attributes)

    logger.info(
        "connect finished user_id=%s connection_id=%s vehicles=%s reconnected=%s",
        user.pk,
        connection.pk,
        "pending" if attributes is None else len(attributes),
        not created,
    )
    return ConnectResult(
        connection=connection,
        vehicle_count=None if attributes is None else len(attributes),
        reconnected=not created,
        return_to=pending.return_to,
    )


@sensitive_variables()
def _user_id(access_token: str) -> str:
    """The Smartcar user the new grant belongs to. Reading it is safe to repeat, so a passing failure (a 5xx, a reset,
    a rate limit with a short wait) is tried again rather than dropping a grant that is already live."""
    pauses = iter(USER_ID_RETRY_PAUSES)
    while True:
        try:
            return smartcar_client.get_user_id(access_token=access_token)
        except Transient as exc:
            pause = next(pauses, None)
            wait = pause if exc.retry_after is None or pause is None else exc.retry_after
            remaining = smartcar_client.remaining_budget()
            if (
                pause is None
                or exc.budget_exhausted
                or wait > USER_ID_RETRY_PAUSES[-1]
                or (remaining is not None and wait >= remaining)
            ):
                logger.warning(
                    "connect exchanged a code but could not read its Smartcar user (%s); the grant is not stored",
                    type(exc).__name__,
                )
                raise
            time.sleep(wait)


@sensitive_variables()
def _store_connection(
    *, user: User, smartcar_user_id: str, tokens: smartcar_client.Tokens, scopes: list[str]
) -> tuple[SmartcarConnection, bool]:
    with transaction.atomic():
        # The row lock also serialises a reconnect with any refresh of the same connection.
        connection, created = SmartcarConnection.objects.select_for_update().get_or_create(
            owner=user,
            smartcar_user_id=smartcar_user_id,
            defaults={
                "access_token": tokens.access_token,
                "refresh_token": tokens.refresh_token,
                "access_expires_at": tokens.access_expires_at,
                "refresh_expires_at": tokens.refresh_expires_at,
                "scopes": scopes,
            },
        )
        if not created:
            # Replaces the tokens under the row lock; an unfinished refresh of the old pair has nothing left to do. A
            # connection made under API Authentication uses these tokens from now on.
            connection.auth = SmartcarConnection.Auth.VEHICLE_TOKENS
            connection.set_tokens(
                access_token=tokens.access_token,
                refresh_token=tokens.refresh_token,
                access_expires_at=tokens.access_expires_at,
                refresh_expires_at=tokens.refresh_expires_at,
            )
            connection.scopes = scopes
            connection.connected_at = timezone.now()
            # Restored: should it fall into NEEDS_REAUTH again, the owner is told again.
            connection.reauth_notified_at = None
            connection.save()
    return connection, created


def _store_application_connection(
    *, user: User, smartcar_user_id: str, scopes: list[str]
) -> tuple[SmartcarConnection, bool]:
    with transaction.atomic():
        connection, created = SmartcarConnection.objects.select_for_update().get_or_create(
            owner=user,
            smartcar_user_id=smartcar_user_id,
            defaults={"auth": SmartcarConnection.Auth.APPLICATION, "scopes": scopes},
        )
        if not created:
            # A reconnect, perhaps after the application moved to API Authentication: no tokens of its own any more.
            connection.auth = SmartcarConnection.Auth.APPLICATION
            connection.access_token = connection.refresh_token = ""
            connection.access_expires_at = connection.refresh_expires_at = None
            connection.refresh_started_at = None
            connection.status = SmartcarConnection.Status.ACTIVE
            connection.scopes = scopes
            connection.connected_at = timezone.now()
            connection.last_error = ""
            connection.last_error_at = None
            connection.reauth_notified_at = None
            connection.save()
    return connection, created


@sensitive_variables()
def _fetch_vehicles(access_token: str, connection: SmartcarConnection) -> list[smartcar_client.VehicleAttributes]:
    if connection.api_user_id:
        return smartcar_client.list_vehicles(access_token=access_token, user_id=connection.api_user_id)
    vehicle_ids = smartcar_client.list_vehicle_ids(access_token=access_token)
    return [
        smartcar_client.get_attributes(access_token=access_token, vehicle_id=vehicle_id) for vehicle_id in vehicle_ids
    ]


def _store_vehicles(*, connection: SmartcarConnection, attributes: list[smartcar_client.VehicleAttributes]) -> None:
    new = []
    with transaction.atomic():
        for vehicle in attributes:
            row, created = Vehicle.objects.update_or_create(
                owner_id=connection.owner_id,
                smartcar_vehicle_id=vehicle.id,
                defaults={"connection": connection, "make": vehicle.make, "model": vehicle.model, "year": vehicle.year},
            )
            if created:
                new.append(row)
        # Cars left out of this grant are no longer reachable through it.
        connection.vehicles.exclude(smartcar_vehicle_id__in=[vehicle.id for vehicle in attributes]).delete()
    for vehicle in new:
        _welcome(vehicle)


def _welcome(vehicle: Vehicle) -> None:
    """A newly connected car: its first data asked for at once, and the car subscribed to the webhook if there is
    one. Both are queued; the person's page says the car is being asked."""
    from vehicles import tasks  # the tasks call these services: imported where the task is sent

    with contextlib.suppress(VehicleBusy, SyncNotQueued):
        request_sync(vehicle=vehicle)
    if settings.SMARTCAR_WEBHOOK_ID:
        with contextlib.suppress(KombuOperationalError):
            tasks.subscribe_vehicle.delay(vehicle.pk)


def list_connection_vehicles(*, connection_id: int) -> int | None:
    """List a connection's vehicles again (after a Connect whose listing failed); how many, or None if the connection
    is gone or no longer active. Smartcar's failures are raised for the task to retry."""
    connection = SmartcarConnection.objects.filter(pk=connection_id).first()
    if connection is None or connection.status != SmartcarConnection.Status.ACTIVE:
        return None
    attributes = with_access_token(connection, lambda token: _fetch_vehicles(token, connection))
    _store_vehicles(connection=connection, attributes=attributes)
    logger.info("vehicles listed connection_id=%s vehicles=%d", connection_id, len(attributes))
    return len(attributes)
