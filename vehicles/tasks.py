"""Celery tasks: they take ids, call services, return nothing, and log no token."""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Iterable

from celery import shared_task
from django.conf import settings
from django.db import DatabaseError

from vehicles import services
from vehicles.fields import TokenDecryptionError
from vehicles.smartcar_client import AppMisconfigured, ReauthRequired, Transient

logger = logging.getLogger(__name__)

# Retries of a refresh that failed for a passing reason: 429, 5xx, network. Backoff doubles from 30 s up to an hour.
REFRESH_MAX_RETRIES = 8
BACKOFF_BASE_SECONDS = 30
BACKOFF_CAP_SECONDS = 3600
UNKNOWN_OUTCOME_RETRY_SECONDS = 5
# A batch hands what is left of it to a new task once it has run this long, so that a few slow token calls never take
# it near the task time limit (one refresh may take up to about 40 s: two HTTP timeouts and the lost-answer recovery).
BATCH_TIME_BUDGET_SECONDS = 10
# A sweep's batches shrink towards its end, down to single connections, so that the last refreshes spread over this
# many worker processes instead of waiting on a few full batches ("guided" scheduling). More processes than this
# across all workers would see a sweep's end on fewer of them, a few hundred milliseconds at most.
SWEEP_SPREAD = 32


def backoff_seconds(attempt: int, retry_after: float | None = None) -> float:
    """Full-jitter exponential backoff, never sooner than Smartcar's Retry-After."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt)
    delay = random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not cryptography
    return max(delay, retry_after or 0)


def retry_countdown(exc: Transient, attempt: int) -> float:
    """Seconds before retrying a refresh that failed for a passing reason on attempt `attempt` (0 for the first)."""
    if exc.unknown_outcome:
        # Smartcar may have rotated the tokens without our hearing back: only the old refresh token's grace
        # (about a minute) can recover them, so the next try must come well inside it.
        return UNKNOWN_OUTCOME_RETRY_SECONDS
    return backoff_seconds(attempt, exc.retry_after)


@shared_task(bind=True, max_retries=REFRESH_MAX_RETRIES)
def refresh_connection(self, connection_id: int, if_version: int | None = None) -> None:
    """Refresh one connection's tokens if still due, or, with `if_version`, if still at that version (an operator's
    "refresh now"). Duplicate deliveries are harmless: the service re-checks under the row lock."""
    try:
        services.refresh_due_connection(connection_id=connection_id, if_version=if_version)
    except (ReauthRequired, AppMisconfigured, TokenDecryptionError):
        # Recorded on the connection (a dead grant) or logged as an error for the operator: retrying cannot help.
        return
    except Transient as exc:
        raise self.retry(countdown=retry_countdown(exc, self.request.retries)) from None
    except DatabaseError:
        # Smartcar may already have rotated the tokens; the old refresh token works for about a minute more, so
        # try again at once rather than on the backoff schedule.
        logger.exception("refresh could not be saved connection_id=%s; retrying", connection_id)
        raise self.retry(countdown=1) from None


@shared_task
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
            services.refresh_due_connection(connection_id=connection_id)
        except (ReauthRequired, AppMisconfigured, TokenDecryptionError):
            continue
        except Transient as exc:
            # As the task's own first retry would be: the next failure backs off from attempt 1.
            refresh_connection.apply_async(args=[connection_id], countdown=retry_countdown(exc, 0), retries=1)
        except DatabaseError:
            # The database connection may be gone: leave the rest to new tasks, which get a checked connection.
            logger.exception("refresh could not be saved connection_id=%s; retrying", connection_id)
            refresh_connection.apply_async(args=[connection_id], countdown=1, retries=1)
            if rest := connection_ids[position + 1 :]:
                refresh_connections.apply_async(args=[rest], countdown=1, expires=_sweep_expiry())
            return


def _sweep_expiry() -> int:
    """Seconds a sweep's task may wait in the queue: the next sweep queues whatever is still due anyway."""
    return settings.TOKEN_REFRESH_INTERVAL_MINUTES * 60


def publish_each(task, argument_lists: Iterable[list], *, expires: int) -> None:
    """Queues `task` once per argument list, all over one broker connection."""
    with task.app.producer_or_acquire() as producer:
        for args in argument_lists:
            task.apply_async(args=args, expires=expires, producer=producer)


def sweep_batches(ids: list[int], size: int) -> list[list[int]]:
    """`ids` in order, cut into batches of at most `size`: each a 1/SWEEP_SPREAD share of what is left, so that
    full batches come first and the last SWEEP_SPREAD are single connections."""
    batches, start = [], 0
    while start < len(ids):
        step = max(1, min(size, math.ceil((len(ids) - start) / SWEEP_SPREAD)))
        batches.append(ids[start : start + step])
        start += step
    return batches


@shared_task
def refresh_due_connections() -> None:
    """Beat's fan-out: the due connections, most urgent first, in batches of up to TOKEN_REFRESH_BATCH_SIZE that
    shrink towards the end of the sweep, each expiring before the next sweep."""
    ids = services.due_connection_ids()
    batches = sweep_batches(ids, settings.TOKEN_REFRESH_BATCH_SIZE)
    publish_each(refresh_connections, ([batch] for batch in batches), expires=_sweep_expiry())
    logger.info("refresh sweep queued %d connection(s) in %d task(s)", len(ids), len(batches))


@shared_task
def sync_vehicle(vehicle_id: int) -> None:
    """Fetch one vehicle's data; failures are stored on the vehicle for the person to read."""
    services.sync_vehicle_data(vehicle_id=vehicle_id)


@shared_task
def sync_stale_vehicles() -> None:
    """The optional periodic fetch (VEHICLE_DATA_SYNC_MINUTES): one task per vehicle whose data is older."""
    ids = services.stale_vehicle_ids()
    publish_each(sync_vehicle, ([vehicle_id] for vehicle_id in ids), expires=settings.VEHICLE_DATA_SYNC_MINUTES * 60)
    logger.info("vehicle data sweep queued %d vehicle(s)", len(ids))
