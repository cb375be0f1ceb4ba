"""The token choke point: every refresh of a connection's tokens, whoever asks, with its intent, its recovery inside
Smartcar's grace, and its failures classified (docs/token-lifecycle.md)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from django.conf import settings
from django.db import DatabaseError, OperationalError, transaction
from django.db import connection as db_connection
from django.db.models import Q
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from kombu.exceptions import OperationalError as KombuOperationalError

from vehicles import pending_saves, smartcar_client
from vehicles.models import ApplicationToken, SmartcarConnection
from vehicles.services import notifications
from vehicles.smartcar_client import AccessTokenRejected, ReauthRequired, SmartcarError

logger = logging.getLogger(__name__)

T = TypeVar("T")

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


def _due_before() -> tuple[datetime, datetime]:
    """Due means: access token expiring before the first instant, or refresh token expiring before the second."""
    now = timezone.now()
    # A refresh token issued TOKEN_REFRESH_MAX_AGE_DAYS ago expires this far from now.
    aging = smartcar_client.REFRESH_TOKEN_LIFETIME - timedelta(days=settings.TOKEN_REFRESH_MAX_AGE_DAYS)
    return now + timedelta(minutes=settings.TOKEN_REFRESH_LEAD_TIME_MINUTES), now + aging


def _keeps_access_tokens_warm() -> bool:
    return settings.TOKEN_REFRESH_POLICY == "warm"  # noqa: S105 - a policy name, not a secret


def due_connection_ids() -> list[int]:
    """ACTIVE connections whose refresh token grows old, or (policy `warm`) whose access token expires within the
    lead time."""
    access_before, refresh_before = _due_before()
    due = Q(refresh_expires_at__lte=refresh_before)
    if _keeps_access_tokens_warm():
        due |= Q(access_expires_at__lte=access_before)
    return list(
        SmartcarConnection.objects.filter(
            status=SmartcarConnection.Status.ACTIVE, auth=SmartcarConnection.Auth.VEHICLE_TOKENS
        )
        .filter(due)
        .order_by("access_expires_at" if _keeps_access_tokens_warm() else "refresh_expires_at")
        .values_list("pk", flat=True)
    )


def is_due(connection: SmartcarConnection) -> bool:
    access_before, refresh_before = _due_before()
    if connection.refresh_expires_at <= refresh_before:
        return True
    return _keeps_access_tokens_warm() and connection.access_expires_at <= access_before


def _bound_lock_wait() -> None:
    """Waiting for a row lock longer than a sibling's refresh, lost-answer recovery included, can take means something
    is stuck: fail instead of hanging (PostgreSQL's lock_timeout, for this transaction). A web request waits no longer
    than its time budget."""
    if db_connection.vendor == "postgresql":
        seconds = min(LOCK_TIMEOUT_SECONDS, smartcar_client.remaining_budget() or LOCK_TIMEOUT_SECONDS)
        with db_connection.cursor() as cursor:
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{max(seconds, 0.001) * 1000:.0f}"])


def _lock(connection_id: int, *, wait: bool) -> SmartcarConnection | None:
    """The connection, locked for this transaction; None if it is gone, or (wait=False) another refresher holds it."""
    if wait:
        _bound_lock_wait()
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
                notifications.queue_reauth_notice(connection_id=connection_id)
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
    from vehicles.tasks import recover_refresh  # the tasks call these services: imported where the task is sent

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
    """A valid access token for this connection, refreshed through the choke point when close to expiry; with API
    Authentication, the application token."""
    if connection.auth == SmartcarConnection.Auth.APPLICATION:
        if connection.status != SmartcarConnection.Status.ACTIVE:
            raise ReauthRequired(f"connection {connection.pk} is not active")
        return get_application_token()
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


@sensitive_variables()
def with_access_token(connection: SmartcarConnection, call: Callable[[str], T]) -> T:
    """`call(token)` with a valid token; if Smartcar rejects the token (401), refresh once and try once more."""
    if connection.auth == SmartcarConnection.Auth.APPLICATION:
        return _with_application_token(connection, call)
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


# --- API Authentication: the application token ------------------------------------------------------------------

# An application token closer than this to its expiry is not handed out; beat renews it well before.
APPLICATION_TOKEN_MARGIN = timedelta(minutes=5)
APPLICATION_TOKEN_RENEW_BEFORE = timedelta(minutes=15)


@sensitive_variables()
def get_application_token(*, margin: timedelta = APPLICATION_TOKEN_MARGIN) -> str:
    """The application token (API Authentication), minted through a lock when missing or close to expiry: however
    many processes ask at once, Smartcar's IAM endpoint is called once."""
    return _application_token(margin).access_token


def _application_token(margin: timedelta) -> ApplicationToken:
    """The application token's row, with its token valid for `margin` (minted if need be)."""
    current = ApplicationToken.objects.filter(pk=1).first()
    if current is not None and current.valid_for(margin):
        return current
    return _mint_application_token(should_mint=lambda row: not row.valid_for(margin))


def renew_application_token() -> None:
    """Beat: mint the next application token before the current one ends, so that no request waits for it."""
    if settings.SMARTCAR_AUTH == "application":
        get_application_token(margin=APPLICATION_TOKEN_RENEW_BEFORE)


@sensitive_variables()
def _mint_application_token(*, should_mint: Callable[[ApplicationToken], bool]) -> ApplicationToken:
    # The one row exists before anyone locks it; get_or_create settles a race to create it.
    ApplicationToken.objects.get_or_create(pk=1)
    with transaction.atomic():
        _bound_lock_wait()
        try:
            row = ApplicationToken.objects.select_for_update().get(pk=1)
        except OperationalError as exc:
            raise RefreshInProgress("the application token is locked by a renewal that does not end") from exc
        # Re-checked under the lock: a sibling may have minted it while this one waited.
        if should_mint(row):
            minted = smartcar_client.mint_application_token()
            row.access_token = minted.access_token
            row.expires_at = minted.expires_at
            row.minted_at = timezone.now()
            row.token_version += 1
            row.save()
            logger.info("application token minted version=%s expires_at=%s", row.token_version, row.expires_at)
    return row


@sensitive_variables()
def _with_application_token(connection: SmartcarConnection, call: Callable[[str], T]) -> T:
    if connection.status != SmartcarConnection.Status.ACTIVE:
        raise ReauthRequired(f"connection {connection.pk} is not active")
    held = _application_token(APPLICATION_TOKEN_MARGIN)
    try:
        return call(held.access_token)
    except AccessTokenRejected:
        logger.info("application token rejected; minting a new one once")
    # A new token only if nobody has since replaced the one that was rejected.
    return call(_mint_application_token(should_mint=lambda row: row.token_version == held.token_version).access_token)
