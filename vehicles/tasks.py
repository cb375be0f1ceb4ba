"""Celery tasks: they take ids, call services, return nothing, and log no token."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterable
from datetime import datetime

from celery import shared_task
from django.conf import settings
from django.db import DatabaseError

from vehicles.fields import TokenDecryptionError
from vehicles.services import connect, history, notifications, tokens, vehicle_data, webhooks
from vehicles.smartcar_client import AppMisconfigured, ReauthRequired, SmartcarError, Transient

logger = logging.getLogger(__name__)

# Retries of a refresh that failed for a passing reason: 429, 5xx, network. Backoff doubles from 30 s up to an hour.
REFRESH_MAX_RETRIES = 8
BACKOFF_BASE_SECONDS = 30
BACKOFF_CAP_SECONDS = 3600
# A refresh may take a while: two HTTP timeouts and the recovery of an unknown outcome inside Smartcar's grace (up to
# about 70 s). Its tasks get more than the default limits, so that no limit cuts a recovery short.
REFRESH_SOFT_TIME_LIMIT = 150
REFRESH_TIME_LIMIT = 180
# A batch hands what is left of it to a new task once it has run this long, so that a few slow token calls never take
# it near its time limit.
BATCH_TIME_BUDGET_SECONDS = 10


def backoff_seconds(attempt: int, retry_after: float | None = None) -> float:
    """Full-jitter exponential backoff, never sooner than Smartcar's Retry-After."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt)
    delay = random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not cryptography
    return max(delay, retry_after or 0)


REFRESH_TASK_OPTIONS = {"soft_time_limit": REFRESH_SOFT_TIME_LIMIT, "time_limit": REFRESH_TIME_LIMIT}


def _refresh_one(connection_id: int, *, attempt: int, if_version: int | None = None) -> float | None:
    """Refresh one connection; seconds until it should be tried again, or None when there is nothing left to do.
    Never raises for one connection's failure: a batch goes on with the next."""
    try:
        tokens.refresh_due_connection(connection_id=connection_id, if_version=if_version)
    except (ReauthRequired, AppMisconfigured, TokenDecryptionError):
        # Recorded on the connection (a dead grant) or logged as an error for the operator: retrying cannot help.
        return None
    except tokens.RefreshInProgress:
        # Another process holds it, keeps its new tokens until they are saved, or recovers it.
        return None
    except Transient as exc:
        # Nothing happened at Smartcar (429, refused), or the recovery window passed without an answer, which means
        # the grace is spent: the next try, on the backoff schedule, gets new tokens or the truth (invalid_grant).
        return backoff_seconds(attempt, exc.retry_after)
    except SmartcarError:
        # A refusal that names no passing reason (recorded on the connection): the next sweep tries again if due.
        return None
    return None


@shared_task(bind=True, max_retries=REFRESH_MAX_RETRIES, **REFRESH_TASK_OPTIONS)
def refresh_connection(self, connection_id: int, if_version: int | None = None) -> None:
    """Refresh one connection's tokens if still due, or, with `if_version`, if still at that version (an operator's
    "refresh now"). Duplicate deliveries are harmless: the service re-checks under the row lock."""
    try:
        countdown = _refresh_one(connection_id, attempt=self.request.retries, if_version=if_version)
    except DatabaseError:
        # Nothing reached Smartcar, or the intent it left is recovered within seconds: retry soon.
        logger.exception("refresh could not reach the database connection_id=%s; retrying", connection_id)
        countdown = 5
    if countdown is not None:
        raise self.retry(countdown=countdown)


@shared_task(**REFRESH_TASK_OPTIONS)
def refresh_connections(connection_ids: list[int]) -> None:
    """A few due connections refreshed one after the other: beat's unit of work. One message for several refreshes,
    because Celery's own cost per message was larger than a refresh's. Each refresh is on its own, as in
    refresh_connection: one that fails for a passing reason is retried alone, one that cannot succeed is skipped, and
    a redelivered batch refreshes only what is still due."""
    started = time.monotonic()
    for position, connection_id in enumerate(connection_ids):
        if position and time.monotonic() - started > BATCH_TIME_BUDGET_SECONDS:
            refresh_connections.apply_async(args=[connection_ids[position:]], expires=_sweep_expiry())
            logger.info("refresh batch handed %d connection(s) to a new task", len(connection_ids) - position)
            return
        try:
            countdown = _refresh_one(connection_id, attempt=0)
        except DatabaseError:
            # The database is away: leave this one and the rest to new tasks, which get a checked connection. An
            # intent this one left is recovered by the recovery sweep.
            logger.exception("refresh could not reach the database connection_id=%s; retrying", connection_id)
            refresh_connections.apply_async(args=[connection_ids[position:]], countdown=5, expires=_sweep_expiry())
            return
        except Exception:
            # One connection's surprise must not cost the rest of the batch its refresh.
            logger.exception("refresh failed unexpectedly connection_id=%s", connection_id)
            continue
        if countdown is not None:
            # As the task's own first retry would be: the next failure backs off from attempt 1.
            refresh_connection.apply_async(args=[connection_id], countdown=countdown, retries=1)


def _sweep_expiry() -> int:
    """Seconds a sweep's task may wait in the queue: the next sweep queues whatever is still due anyway."""
    return settings.TOKEN_REFRESH_INTERVAL_MINUTES * 60


def publish_each(task, argument_lists: Iterable[list], *, expires: int, **options) -> None:
    """Queues `task` once per argument list, all over one broker connection."""
    with task.app.producer_or_acquire() as producer:
        for args in argument_lists:
            task.apply_async(args=args, expires=expires, producer=producer, **options)


@shared_task
def refresh_due_connections() -> None:
    """Beat's fan-out: the due connections, most urgent first, in batches of TOKEN_REFRESH_BATCH_SIZE, each expiring
    before the next sweep."""
    ids = tokens.due_connection_ids()
    size = settings.TOKEN_REFRESH_BATCH_SIZE
    batches = [ids[start : start + size] for start in range(0, len(ids), size)]
    publish_each(refresh_connections, ([batch] for batch in batches), expires=_sweep_expiry())
    logger.info("refresh sweep queued %d connection(s) in %d task(s)", len(ids), len(batches))


@shared_task(**REFRESH_TASK_OPTIONS)
def recover_refresh(connection_id: int, started: str | None = None) -> None:
    """Finish a refresh whose outcome is unknown and whose refresher is gone or handed it off (`started`, the intent's
    start), with the same refresh token, inside Smartcar's grace."""
    try:
        _refresh_after_recovery(connection_id, started)
    except DatabaseError:
        # The intent stays; the next recovery sweep, seconds away, tries again.
        logger.exception("refresh recovery could not reach the database connection_id=%s", connection_id)


def _refresh_after_recovery(connection_id: int, started: str | None) -> None:
    try:
        tokens.recover_refresh(
            connection_id=connection_id, started=datetime.fromisoformat(started) if started else None
        )
    except (ReauthRequired, AppMisconfigured, TokenDecryptionError, tokens.RefreshInProgress):
        return
    except Transient as exc:
        refresh_connection.apply_async(args=[connection_id], countdown=backoff_seconds(0, exc.retry_after), retries=1)
    except SmartcarError:
        return


@shared_task
def recover_orphaned_refreshes() -> None:
    """Beat, every few seconds: refreshes whose refresher died or lost the database mid-call, each recovered at once
    in a task of its own."""
    ids = tokens.orphaned_refresh_ids()
    if ids:
        publish_each(recover_refresh, ([connection_id] for connection_id in ids), expires=30)
        logger.warning("refresh recovery queued %d orphaned refresh(es)", len(ids))


@shared_task
def process_webhook_event(event_pk: int) -> None:
    """Apply one stored webhook delivery; a redelivered task finds it processed and does nothing."""
    webhooks.process_event(event_pk=event_pk)


@shared_task
def process_pending_webhook_events() -> None:
    """Beat: deliveries stored while the broker was down, or whose worker died, are queued again."""
    ids = webhooks.pending_event_ids()
    publish_each(process_webhook_event, ([pk] for pk in ids), expires=300)
    if ids:
        logger.warning("webhook sweep queued %d pending event(s)", len(ids))


@shared_task(bind=True, max_retries=REFRESH_MAX_RETRIES)
def subscribe_vehicle(self, vehicle_id: int) -> None:
    """Subscribe a newly connected car to the webhook, retried with backoff (failures show in the admin)."""
    try:
        webhooks.subscribe(vehicle_id=vehicle_id)
    except (ReauthRequired, AppMisconfigured, TokenDecryptionError):
        return
    except SmartcarError as exc:
        raise self.retry(countdown=backoff_seconds(self.request.retries, getattr(exc, "retry_after", None))) from None


@shared_task
def renew_application_token() -> None:
    """Beat, with API Authentication: mint the next application token before the current one ends."""
    tokens.renew_application_token()


@shared_task(bind=True, max_retries=REFRESH_MAX_RETRIES)
def list_connection_vehicles(self, connection_id: int) -> None:
    """List the vehicles of a connection whose Connect could not list them; retried on Smartcar's passing failures."""
    try:
        connect.list_connection_vehicles(connection_id=connection_id)
    except (ReauthRequired, AppMisconfigured, TokenDecryptionError):
        return
    except SmartcarError as exc:
        raise self.retry(countdown=backoff_seconds(self.request.retries, getattr(exc, "retry_after", None))) from None


@shared_task
def sync_vehicle(vehicle_id: int) -> None:
    """Fetch one vehicle's data; failures are stored on the vehicle for the person to read."""
    vehicle_data.sync_vehicle_data(vehicle_id=vehicle_id)


@shared_task
def sync_stale_vehicles() -> None:
    """The optional periodic fetch (VEHICLE_DATA_SYNC_MINUTES): one task per vehicle whose data is older."""
    ids = vehicle_data.stale_vehicle_ids()
    publish_each(sync_vehicle, ([vehicle_id] for vehicle_id in ids), expires=settings.VEHICLE_DATA_SYNC_MINUTES * 60)
    logger.info("vehicle data sweep queued %d vehicle(s)", len(ids))


@shared_task(bind=True, max_retries=REFRESH_MAX_RETRIES)
def notify_reauth(self, connection_id: int) -> None:
    """Email the owner of a connection that fell into NEEDS_REAUTH (once; a duplicate finds it done). A mail server
    that fails is retried with backoff."""
    try:
        notifications.send_reauth_notice(connection_id=connection_id)
    except OSError as exc:  # smtplib's errors, refused and reset connections
        logger.warning("reconnect email not sent connection_id=%s: %s; retrying", connection_id, type(exc).__name__)
        raise self.retry(countdown=backoff_seconds(self.request.retries)) from None


@shared_task
def prune_history() -> None:
    """Beat, hourly: forget readings older than VEHICLE_HISTORY_DAYS."""
    history.prune()
