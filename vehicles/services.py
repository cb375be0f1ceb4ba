"""Flows that mix the database and Smartcar: Connect, the token choke point, disconnect."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from django.conf import settings
from django.db import DatabaseError, OperationalError, transaction
from django.db import connection as db_connection
from django.db.models import Q
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_variables
from kombu.exceptions import OperationalError as KombuOperationalError

from accounts.models import User
from vehicles import pending_saves, smartcar_client
from vehicles.models import PendingConnect, SmartcarConnection, Vehicle, VehicleCommand
from vehicles.smartcar_client import AccessTokenRejected, ReauthRequired, SmartcarError

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Smartcar's own limit for finishing Connect is similar; a stale state is more likely replayed than late.
STATE_LIFETIME = timedelta(minutes=10)
# How long after its first try a refresh whose outcome is unknown keeps sending tries with the same refresh token:
# well inside Smartcar's grace (the old refresh token works for about a minute after its first use).
RECOVERY_WINDOW = timedelta(seconds=45)
# A refresh intent whose row nobody holds, older than this, is orphaned: its refresher died or lost the database.
# Younger, it is the moment between a refresher's claim and its lock.
INTENT_ORPHANED_AFTER = timedelta(seconds=3)
# A refresher waits this long for the row lock: longer than a sibling's refresh can hold it, recovery included.
LOCK_TIMEOUT_SECONDS = 90
# An access token closer than this to its expiry is refreshed before use, so it cannot die mid-request.
ACCESS_TOKEN_MARGIN = timedelta(minutes=5)

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


class DisconnectFailed(Exception):
    """Smartcar could not revoke access; nothing was removed here."""


@dataclass(frozen=True)
class ConnectResult:
    connection: SmartcarConnection
    # None while the vehicles are still being listed (Smartcar failed to list them during Connect).
    vehicle_count: int | None
    reconnected: bool
    return_to: str


def _state_hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def safe_return_to(candidate: str | None) -> str:
    """`candidate` if it is a path on this site that can be kept, otherwise the empty string."""
    if (
        candidate
        and len(candidate) <= PendingConnect._meta.get_field("return_to").max_length
        and "\x00" not in candidate
        and candidate.startswith("/")
        and url_has_allowed_host_and_scheme(candidate, allowed_hosts=set(), require_https=False)
    ):
        return candidate
    return ""


def start_connect(*, user: User, return_to: str | None = None) -> str:
    """Record a fresh `state` for this user and return the Smartcar Connect URL to send them to."""
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
    return smartcar_client.authorization_url(state=state, scopes=scopes)


def _claim_state(*, user: User, state: str | None) -> PendingConnect:
    if not state:
        raise StateRejected("This page can only be reached from Smartcar Connect. Please connect your car again.")
    pending = PendingConnect.objects.filter(state_hash=_state_hash(state)).first()
    # Someone else's state is reported as unknown: it tells the visitor nothing about other accounts.
    if pending is None or pending.user_id != user.pk:
        raise StateRejected("This Smartcar Connect link was not started from your account. Please connect again.")
    if pending.consumed_at is not None:
        raise StateRejected("This Smartcar Connect link was already used. Please connect again if you need to.")
    now = timezone.now()
    if pending.expires_at <= now:
        raise StateRejected("This Smartcar Connect link has expired. Please connect again.")
    # One atomic UPDATE: of two racing callbacks with the same state, exactly one changes the row.
    if not PendingConnect.objects.filter(pk=pending.pk, consumed_at__isnull=True).update(consumed_at=now):
        raise StateRejected("This Smartcar Connect link was already used. Please connect again if you need to.")
    return pending


@sensitive_variables()
def finish_connect(*, user: User, state: str | None, code: str | None, error: str | None = None) -> ConnectResult:
    """Complete Connect: check `state` first, then exchange the code and store the connection and its vehicles.

    Once the code is exchanged the grant is live at Smartcar, so the connection is stored at once: if listing its
    vehicles then fails, they are listed again in the background rather than leaving a grant nobody holds."""
    pending = _claim_state(user=user, state=state)
    if error:
        raise ConnectFailed(CONNECT_ERROR_MESSAGES.get(error, UNKNOWN_CONNECT_ERROR))
    if not code:
        raise ConnectFailed(UNKNOWN_CONNECT_ERROR)

    with smartcar_client.time_budget(settings.SMARTCAR_WEB_TIME_BUDGET):
        try:
            tokens = smartcar_client.exchange_code(code=code)
            smartcar_user_id = smartcar_client.get_user_id(access_token=tokens.access_token)
        except SmartcarError as exc:
            raise ConnectFailed(f"Your car could not be connected: {exc.user_message}") from exc
        connection, created = _store_connection(
            user=user, smartcar_user_id=smartcar_user_id, tokens=tokens, scopes=pending.scopes
        )
        try:
            attributes = _fetch_vehicles(access_token=tokens.access_token)
        except SmartcarError as exc:
            from vehicles import tasks

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
            # Replaces the tokens under the row lock; an unfinished refresh of the old pair has nothing left to do.
            connection.set_tokens(
                access_token=tokens.access_token,
                refresh_token=tokens.refresh_token,
                access_expires_at=tokens.access_expires_at,
                refresh_expires_at=tokens.refresh_expires_at,
            )
            connection.scopes = scopes
            connection.connected_at = timezone.now()
            connection.save()
    return connection, created


@sensitive_variables()
def _fetch_vehicles(*, access_token: str) -> list[smartcar_client.VehicleAttributes]:
    vehicle_ids = smartcar_client.list_vehicle_ids(access_token=access_token)
    return [
        smartcar_client.get_attributes(access_token=access_token, vehicle_id=vehicle_id) for vehicle_id in vehicle_ids
    ]


def _store_vehicles(*, connection: SmartcarConnection, attributes: list[smartcar_client.VehicleAttributes]) -> None:
    with transaction.atomic():
        for vehicle in attributes:
            Vehicle.objects.update_or_create(
                owner_id=connection.owner_id,
                smartcar_vehicle_id=vehicle.id,
                defaults={"connection": connection, "make": vehicle.make, "model": vehicle.model, "year": vehicle.year},
            )
        # Cars left out of this grant are no longer reachable through it.
        connection.vehicles.exclude(smartcar_vehicle_id__in=[vehicle.id for vehicle in attributes]).delete()


def list_connection_vehicles(*, connection_id: int) -> int | None:
    """List a connection's vehicles again (after a Connect whose listing failed); how many, or None if the connection
    is gone or no longer active. Smartcar's failures are raised for the task to retry."""
    connection = SmartcarConnection.objects.filter(pk=connection_id).first()
    if connection is None or connection.status != SmartcarConnection.Status.ACTIVE:
        return None
    attributes = _with_access_token(connection, lambda token: _fetch_vehicles(access_token=token))
    _store_vehicles(connection=connection, attributes=attributes)
    logger.info("vehicles listed connection_id=%s vehicles=%d", connection_id, len(attributes))
    return len(attributes)


def _due_before() -> tuple[datetime, datetime]:
    """Due means: access token expiring before the first instant, or refresh token expiring before the second."""
    now = timezone.now()
    # A refresh token issued TOKEN_REFRESH_MAX_AGE_DAYS ago expires this far from now.
    aging = smartcar_client.REFRESH_TOKEN_LIFETIME - timedelta(days=settings.TOKEN_REFRESH_MAX_AGE_DAYS)
    return now + timedelta(minutes=settings.TOKEN_REFRESH_LEAD_TIME_MINUTES), now + aging


def due_connection_ids() -> list[int]:
    """ACTIVE connections whose access token expires within the lead time or whose refresh token grows old."""
    access_before, refresh_before = _due_before()
    return list(
        SmartcarConnection.objects.filter(status=SmartcarConnection.Status.ACTIVE)
        .filter(Q(access_expires_at__lte=access_before) | Q(refresh_expires_at__lte=refresh_before))
        .order_by("access_expires_at")
        .values_list("pk", flat=True)
    )


def is_due(connection: SmartcarConnection) -> bool:
    access_before, refresh_before = _due_before()
    return connection.access_expires_at <= access_before or connection.refresh_expires_at <= refresh_before


def _lock(connection_id: int, *, wait: bool) -> SmartcarConnection | None:
    """The connection, locked for this transaction; None if it is gone, or (wait=False) another refresher holds it."""
    if wait and db_connection.vendor == "postgresql":
        # Waiting longer than a sibling's refresh, lost-answer recovery included, can take means something is stuck:
        # fail instead of hanging. A web request waits no longer than its time budget.
        seconds = min(LOCK_TIMEOUT_SECONDS, smartcar_client.remaining_budget() or LOCK_TIMEOUT_SECONDS)
        with db_connection.cursor() as cursor:
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{max(seconds, 0.001) * 1000:.0f}"])
    # On SQLite there are no row locks: the IMMEDIATE transaction already holds the database's write lock.
    try:
        return (
            SmartcarConnection.objects.select_for_update(skip_locked=not wait, no_key=True)
            .filter(pk=connection_id)
            .first()
        )
    except OperationalError as exc:
        raise RefreshInProgress(f"connection {connection_id} is locked by a refresh that does not end") from exc


class RefreshInProgress(smartcar_client.Transient):
    """Another process is refreshing this connection (or recovering its refresh); nothing was sent."""

    default_user_message = "Your car's connection is being renewed. Please try again in a moment."


class TokensSavedLater(RefreshInProgress):
    """Smartcar issued new tokens that the database could not take yet: this process keeps them and saves them."""


class RecoveryHandedOff(smartcar_client.Transient):
    """A refresh's outcome is unknown and a worker now recovers it inside Smartcar's grace; the caller cannot wait."""

    default_user_message = "Smartcar is slow to answer. Please try again in a moment."


@sensitive_variables()
def _exchange_refresh_token(refresh_token: str, *, started_at: datetime, adopted: bool) -> smartcar_client.Tokens:
    """Trade the refresh token for a new pair. If the outcome of a try is unknown (it, or an earlier holder's try when
    `adopted`, may have rotated the tokens at Smartcar), keep trying with the same token until a definitive answer or
    the end of RECOVERY_WINDOW from `started_at`: the old refresh token works for about a minute after its first use
    and never after. A caller with a time budget (a web request) cannot wait: it hands the recovery to a worker."""
    deadline = started_at + RECOVERY_WINDOW
    maybe_rotated = adopted
    pause = 0.25
    while True:
        # The last try that can be sent inside the window waits longer, in case Smartcar is slow rather than mute.
        last_try = timezone.now() + timedelta(seconds=settings.SMARTCAR_HTTP_TIMEOUT + pause) >= deadline
        timeout = settings.SMARTCAR_HTTP_TIMEOUT * (2 if last_try else 1)
        try:
            with smartcar_client.call_timeout(timeout):
                return smartcar_client.refresh_tokens(refresh_token=refresh_token)
        except smartcar_client.Transient as exc:
            maybe_rotated = maybe_rotated or exc.unknown_outcome
            if not maybe_rotated or exc.budget_exhausted:
                raise
            if smartcar_client.in_time_budget():
                raise RecoveryHandedOff(str(exc)) from exc
            if last_try or timezone.now() >= deadline:
                raise
            pause = min(max(pause, exc.retry_after or 0), 4.0)
        time.sleep(pause)
        pause = min(pause * 2, 4.0)


FAILED_FIELDS = ["status", "refresh_started_at", "last_error", "last_error_at", "updated_at"]


@sensitive_variables()
def _store_tokens(connection: SmartcarConnection, tokens: smartcar_client.Tokens) -> None:
    connection.set_tokens(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        access_expires_at=tokens.access_expires_at,
        refresh_expires_at=tokens.refresh_expires_at,
    )
    connection.save(update_fields=SmartcarConnection.TOKEN_FIELDS)


def _claim(
    connection_id: int,
    *,
    should_refresh: Callable[[SmartcarConnection], bool],
    wait: bool,
    recover: datetime | None,
) -> tuple[SmartcarConnection | None, datetime | None, bool]:
    """Step one of a refresh, committed on its own: record the intent to refresh (when, at which token version), so
    that if this process dies with the request in flight another can finish the rotation inside the grace.

    Returns the connection, the intent's start if this caller now owns one (else None), and whether that intent was
    adopted from a holder that is gone (its outcome unknown). `recover` names a handed-off intent to adopt."""
    while True:
        with transaction.atomic():
            connection = _lock(connection_id, wait=wait)
            if connection is None or connection.status != SmartcarConnection.Status.ACTIVE:
                return connection, None, False
            started = connection.refresh_started_at
            if started is not None:
                # An intent with no holder: the row is not locked, so its refresher died, lost the database, or handed
                # the recovery off. Adopt it when it is the one handed off or older than the brief gap between a
                # claim's commit and its refresh; a younger one is that gap.
                if started == recover or started <= timezone.now() - INTENT_ORPHANED_AFTER:
                    return connection, started, True
            elif recover is None and should_refresh(connection):
                connection.refresh_started_at = timezone.now()
                connection.save(update_fields=["refresh_started_at", "updated_at"])
                return connection, connection.refresh_started_at, False
            else:
                return connection, None, False
        if not wait:
            return connection, None, False
        time.sleep(0.1)


@sensitive_variables()
def _refresh(
    connection_id: int,
    *,
    should_refresh: Callable[[SmartcarConnection], bool],
    wait: bool,
    recover: datetime | None = None,
) -> tuple[SmartcarConnection | None, bool]:
    """The one place that refreshes tokens: record the intent, lock the row, refresh, save, and only then hand them
    out. Returns the connection as it now is (None if gone) and whether this call refreshed."""
    connection, started, adopted = _claim(connection_id, should_refresh=should_refresh, wait=wait, recover=recover)
    if started is None:
        return connection, False
    failure: SmartcarError | None = None
    tokens = None
    try:
        with transaction.atomic():
            connection = _lock(connection_id, wait=True)
            # Another process adopted this intent (and finished it) between the claim and this lock.
            if connection is None or connection.refresh_started_at != started:
                return connection, False
            version = connection.token_version
            try:
                tokens = _exchange_refresh_token(connection.refresh_token, started_at=started, adopted=adopted)
            except RecoveryHandedOff as exc:
                # The intent stays: a worker adopts it at once.
                _record_error(connection, exc)
                failure = exc
            except ReauthRequired as exc:
                connection.status = SmartcarConnection.Status.NEEDS_REAUTH
                _record_error(connection, exc, finished=True)
                failure = exc
            except smartcar_client.AppMisconfigured:
                # The application's own credentials are wrong, not this user's grant: change nothing, shout.
                logger.error(
                    "refresh refused connection_id=%s: Smartcar rejected the client credentials", connection_id
                )
                connection.refresh_started_at = None
                connection.save(update_fields=["refresh_started_at", "updated_at"])
                raise
            except SmartcarError as exc:
                # A definitive answer, a failure known to precede any rotation, or an unknown outcome the whole
                # recovery window could not settle: the grace is spent either way, so the next try (on the task's
                # backoff) learns the truth.
                _record_error(connection, exc, finished=True)
                failure = exc
            else:
                _store_tokens(connection, tokens)
    except DatabaseError:
        if tokens is None:
            raise
        # Smartcar has rotated the tokens and the pair exists only here: keep it and save it once the database is
        # back. The old refresh token's grace will not outlast the outage; this pair lives for 60 days.
        pending_saves.keep(connection_id=connection_id, version=version, tokens=tokens)
        raise TokensSavedLater(f"connection {connection_id} refreshed; saving when the database is back") from None
    if failure is not None:
        # Raised after the commit, so that the recorded status and error survive.
        logger.warning(
            "refresh failed connection_id=%s outcome=%s status=%s unknown_outcome=%s",
            connection_id,
            type(failure).__name__,
            connection.status,
            getattr(failure, "unknown_outcome", False),
        )
        if isinstance(failure, RecoveryHandedOff):
            _hand_off_recovery(connection_id, started)
        raise failure
    logger.info(
        "refresh succeeded connection_id=%s token_version=%s recovered=%s",
        connection_id,
        connection.token_version,
        adopted,
    )
    return connection, True


def _hand_off_recovery(connection_id: int, started: datetime) -> None:
    from vehicles.tasks import recover_refresh

    try:
        recover_refresh.delay(connection_id, started.isoformat())
    except KombuOperationalError as exc:
        # Beat's recovery sweep finds the intent within seconds anyway.
        logger.warning("could not queue a refresh recovery connection_id=%s: %s", connection_id, type(exc).__name__)


def _record_error(connection: SmartcarConnection, error: SmartcarError, *, finished: bool = False) -> None:
    if finished:
        connection.refresh_started_at = None
    connection.last_error = f"{type(error).__name__}: {error}"[:255]
    connection.last_error_at = timezone.now()
    connection.save(update_fields=FAILED_FIELDS)


def refresh_due_connection(*, connection_id: int, if_version: int | None = None) -> SmartcarConnection | None:
    """Background refresh (beat, tasks): skips a connection another refresher holds. Refreshes only if due, or, with
    `if_version`, only if nobody has changed the tokens since that version (an operator's "refresh now"). Finishes an
    orphaned refresh it comes across."""

    def should_refresh(connection: SmartcarConnection) -> bool:
        return connection.token_version == if_version if if_version is not None else is_due(connection)

    return _refresh(connection_id, should_refresh=should_refresh, wait=False)[0]


def recover_refresh(*, connection_id: int, started: datetime | None = None) -> bool:
    """Finish a refresh whose outcome is unknown and whose holder is gone, with the same refresh token, inside the
    grace: the intent started at `started` (handed off), or any orphaned one. Whether it refreshed."""
    return _refresh(connection_id, should_refresh=lambda connection: False, wait=False, recover=started)[1]


def orphaned_refresh_ids() -> list[int]:
    """Connections with a refresh intent older than a claim's gap: their refresher died, lost the database or handed
    the recovery off. One whose refresher is still at work is skipped under its row lock."""
    return list(
        SmartcarConnection.objects.filter(
            status=SmartcarConnection.Status.ACTIVE,
            refresh_started_at__lte=timezone.now() - INTENT_ORPHANED_AFTER,
        )
        .order_by("refresh_started_at")
        .values_list("pk", flat=True)
    )


def refresh_if_due(*, connection_id: int, force: bool = False) -> bool:
    """Synchronous refresh for the command: waits for the lock, then refreshes if due (or always, with force).
    Whether this call refreshed."""
    return _refresh(connection_id, should_refresh=lambda connection: force or is_due(connection), wait=True)[1]


@sensitive_variables()
def get_access_token(*, connection: SmartcarConnection) -> str:
    """A valid access token for this connection, refreshed through the choke point when close to expiry."""
    if connection.status == SmartcarConnection.Status.ACTIVE and connection.access_token_valid_for(ACCESS_TOKEN_MARGIN):
        return connection.access_token
    refreshed, _ = _refresh(
        connection.pk,
        should_refresh=lambda current: not current.access_token_valid_for(ACCESS_TOKEN_MARGIN),
        wait=True,
    )
    if refreshed is None or refreshed.status != SmartcarConnection.Status.ACTIVE:
        raise ReauthRequired(f"connection {connection.pk} is not active")
    if not refreshed.access_token_valid_for(timedelta(0)):
        # Another process finished this refresh's intent and is still at it.
        raise RefreshInProgress(f"connection {connection.pk} is being refreshed elsewhere")
    return refreshed.access_token


# --- Vehicle data and commands -----------------------------------------------------------------------------------

# When Smartcar rate-limits a vehicle without saying for how long.
DEFAULT_RETRY_AFTER = timedelta(seconds=60)
# A queued fetch that has not landed after this long is no longer shown as in progress.
SYNC_PENDING_FOR = timedelta(minutes=2)

COMMAND_PERMISSIONS = {
    VehicleCommand.Action.LOCK: "control_security",
    VehicleCommand.Action.UNLOCK: "control_security",
    VehicleCommand.Action.START_CHARGE: "control_charge",
    VehicleCommand.Action.STOP_CHARGE: "control_charge",
}


class VehicleBusy(Exception):
    """Smartcar asked us to leave this vehicle alone until `until`; nothing was sent."""

    def __init__(self, until: datetime) -> None:
        super().__init__(f"Smartcar asked us to wait until {until:%H:%M:%S} UTC before asking this car again.")
        self.until = until


class SyncNotQueued(Exception):
    """The fetch could not be queued (the task broker is down); nothing changed."""


def _check_retry_window(vehicle: Vehicle) -> None:
    # Read from the database, not the instance: another process may have been told to wait a moment ago.
    until = Vehicle.objects.filter(pk=vehicle.pk).values_list("retry_not_before", flat=True).first()
    if until is not None and until > timezone.now():
        raise VehicleBusy(until)


def _note_rate_limit(vehicle: Vehicle, error: SmartcarError) -> None:
    if isinstance(error, smartcar_client.Transient) and (error.status == 429 or error.error_type == "RATE_LIMIT"):
        wait = timedelta(seconds=error.retry_after) if error.retry_after is not None else DEFAULT_RETRY_AFTER
        vehicle.retry_not_before = timezone.now() + wait
        Vehicle.objects.filter(pk=vehicle.pk).update(retry_not_before=vehicle.retry_not_before)


@sensitive_variables()
def _with_access_token(connection: SmartcarConnection, call: Callable[[str], T]) -> T:
    """`call(token)` with a valid token; if Smartcar rejects the token (401), refresh once and try once more."""
    token = get_access_token(connection=connection)
    version = SmartcarConnection.objects.filter(pk=connection.pk).values_list("token_version", flat=True).first()
    try:
        return call(token)
    except AccessTokenRejected:
        logger.info("access token rejected connection_id=%s; refreshing once", connection.pk)
    # Refresh only if nobody has since replaced the token that was rejected.
    refreshed, _ = _refresh(connection.pk, should_refresh=lambda current: current.token_version == version, wait=True)
    if refreshed is None or refreshed.status != SmartcarConnection.Status.ACTIVE:
        raise ReauthRequired(f"connection {connection.pk} is not active")
    return call(refreshed.access_token)


def request_sync(*, vehicle: Vehicle) -> None:
    """Queue a fetch of the vehicle's data; the page shows the old data until it lands."""
    from vehicles.tasks import sync_vehicle

    _check_retry_window(vehicle)
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
        _check_retry_window(vehicle)
        signals = _with_access_token(
            vehicle.connection,
            lambda token: smartcar_client.get_signals(access_token=token, vehicle_id=vehicle.smartcar_vehicle_id),
        )
    except VehicleBusy as exc:
        message = str(exc)
    except ReauthRequired:
        message = "Smartcar no longer accepts this connection. Reconnect your car to see its data."
    except SmartcarError as exc:
        _note_rate_limit(vehicle, exc)
        message = exc.user_message
        if vehicle.retry_not_before and vehicle.retry_not_before > timezone.now():
            message = f"{message} {VehicleBusy(vehicle.retry_not_before)}"
    else:
        vehicle.data = {"signals": {signal.code: _stored(signal) for signal in signals}}
        vehicle.data_fetched_at = timezone.now()
    vehicle.sync_error = message[:300]
    vehicle.sync_requested_at = None
    vehicle.save(update_fields=["data", "data_fetched_at", "sync_error", "sync_requested_at", "updated_at"])
    logger.info("vehicle fetch vehicle_id=%s outcome=%s", vehicle_id, "failed" if message else "ok")
    return vehicle


def _stored(signal: smartcar_client.Signal) -> dict:
    return {
        "status": signal.status,
        "body": signal.body,
        "retrieved_at": signal.retrieved_at.isoformat() if signal.retrieved_at else None,
        "oem_updated_at": signal.oem_updated_at.isoformat() if signal.oem_updated_at else None,
    }


@sensitive_variables()
def send_command(*, vehicle: Vehicle, user: User, action: str) -> VehicleCommand:
    """Send a command to the car and record what came of it (the record is returned either way)."""
    permission = COMMAND_PERMISSIONS[VehicleCommand.Action(action)]
    outcome, message = VehicleCommand.Outcome.FAILED, ""
    if permission not in vehicle.connection.scopes:
        message = smartcar_client.PermissionMissing.default_user_message
    else:
        try:
            _check_retry_window(vehicle)
            with smartcar_client.time_budget(settings.SMARTCAR_WEB_TIME_BUDGET):
                answer = _with_access_token(
                    vehicle.connection,
                    lambda token: smartcar_client.send_command(
                        access_token=token, vehicle_id=vehicle.smartcar_vehicle_id, action=action
                    ),
                )
        except VehicleBusy as exc:
            message = str(exc)
        except ReauthRequired:
            message = "Smartcar no longer accepts this connection. Reconnect your car to send commands."
        except SmartcarError as exc:
            _note_rate_limit(vehicle, exc)
            message = exc.user_message
            if isinstance(exc, smartcar_client.Transient) and exc.unknown_outcome:
                message = (
                    "Smartcar did not answer in time: the command may still reach your car. Check before retrying."
                )
        else:
            outcome, message = VehicleCommand.Outcome.SUCCEEDED, answer or "Done."
    command = VehicleCommand.objects.create(
        vehicle=vehicle, requested_by=user, action=action, outcome=outcome, message=message[:300]
    )
    logger.info("vehicle command vehicle_id=%s action=%s outcome=%s", vehicle.pk, action, outcome)
    if outcome == VehicleCommand.Outcome.SUCCEEDED:
        # Show the car's new state rather than the stale snapshot (one more call, asked for by the person).
        with contextlib.suppress(VehicleBusy, SyncNotQueued):
            request_sync(vehicle=vehicle)
    return command


def stale_vehicle_ids() -> list[int]:
    """Vehicles on ACTIVE connections whose data is older than the optional periodic sync interval."""
    cutoff = timezone.now() - timedelta(minutes=settings.VEHICLE_DATA_SYNC_MINUTES)
    return list(
        Vehicle.objects.filter(connection__status=SmartcarConnection.Status.ACTIVE)
        .filter(Q(data_fetched_at__isnull=True) | Q(data_fetched_at__lt=cutoff))
        .exclude(retry_not_before__gt=timezone.now())
        .values_list("pk", flat=True)
    )


@sensitive_variables()
def disconnect_vehicle(*, vehicle: Vehicle) -> None:
    """Revoke this application's access to the vehicle at Smartcar, then forget it (and its tokens if it was the
    connection's last vehicle). If Smartcar cannot be reached, nothing changes here."""
    connection = vehicle.connection
    try:
        with smartcar_client.time_budget(settings.SMARTCAR_WEB_TIME_BUDGET):
            access_token = get_access_token(connection=connection)
            smartcar_client.disconnect_vehicle(access_token=access_token, vehicle_id=vehicle.smartcar_vehicle_id)
    except (ReauthRequired, AccessTokenRejected):
        # Smartcar no longer honours this grant: there is nothing left to revoke.
        logger.info("disconnect: grant already dead connection_id=%s vehicle_id=%s", connection.pk, vehicle.pk)
    except SmartcarError as exc:
        raise DisconnectFailed(exc.user_message) from exc
    with transaction.atomic():
        vehicle.delete()
        if not connection.vehicles.exists():
            connection.delete()
    logger.info("disconnected vehicle owner_id=%s connection_id=%s", vehicle.owner_id, connection.pk)


def disconnect_connection(*, connection: SmartcarConnection) -> None:
    """Disconnect every vehicle of one connection, then forget its tokens; stops at the first vehicle Smartcar could
    not revoke (the vehicles already revoked stay removed)."""
    for vehicle in connection.vehicles.select_related("connection"):
        disconnect_vehicle(vehicle=vehicle)
    # A connection whose vehicles were all removed holds tokens for nothing.
    SmartcarConnection.objects.filter(pk=connection.pk).delete()


def disconnect_everything(*, user: User) -> None:
    """Disconnect every connection of the user; stops at the first vehicle Smartcar could not revoke."""
    for connection in SmartcarConnection.objects.filter(owner=user):
        disconnect_connection(connection=connection)
