"""Celery tasks: they take ids, call services, return nothing, and log no token."""

from __future__ import annotations

import logging
import random

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


def backoff_seconds(attempt: int, retry_after: float | None = None) -> float:
    """Full-jitter exponential backoff, never sooner than Smartcar's Retry-After."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt)
    delay = random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not cryptography
    return max(delay, retry_after or 0)


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
        if exc.unknown_outcome:
            # Smartcar may have rotated the tokens without our hearing back: only the old refresh token's grace
            # (about a minute) can recover them, so the next try must come well inside it.
            raise self.retry(countdown=UNKNOWN_OUTCOME_RETRY_SECONDS) from None
        raise self.retry(countdown=backoff_seconds(self.request.retries, exc.retry_after)) from None
    except DatabaseError:
        # Smartcar may already have rotated the tokens; the old refresh token works for about a minute more, so
        # try again at once rather than on the backoff schedule.
        logger.exception("refresh could not be saved connection_id=%s; retrying", connection_id)
        raise self.retry(countdown=1) from None


@shared_task
def refresh_due_connections() -> None:
    """Beat's fan-out: one refresh task per due connection, each expiring before the next sweep."""
    expires = settings.TOKEN_REFRESH_INTERVAL_MINUTES * 60
    ids = services.due_connection_ids()
    for connection_id in ids:
        refresh_connection.apply_async(args=[connection_id], expires=expires)
    logger.info("refresh sweep queued %d connection(s)", len(ids))


@shared_task
def sync_vehicle(vehicle_id: int) -> None:
    """Fetch one vehicle's data; failures are stored on the vehicle for the person to read."""
    services.sync_vehicle_data(vehicle_id=vehicle_id)


@shared_task
def sync_stale_vehicles() -> None:
    """The optional periodic fetch (VEHICLE_DATA_SYNC_MINUTES): one task per vehicle whose data is older."""
    ids = services.stale_vehicle_ids()
    for vehicle_id in ids:
        sync_vehicle.apply_async(args=[vehicle_id], expires=settings.VEHICLE_DATA_SYNC_MINUTES * 60)
    logger.info("vehicle data sweep queued %d vehicle(s)", len(ids))
