"""Readiness probes for /healthz (can this process reach its database and its broker?) and beat's heartbeat."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

import redis
from django.conf import settings
from django.db import connections
from django.utils import timezone

from config.celery import app as celery_app

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    error: str = ""
    details: dict = field(default_factory=dict)


def check_database(alias: str = "default") -> Check:
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"; the class name says which
        logger.warning("health check: database unavailable: %s", type(exc).__name__)
        return Check("database", ok=False, error=type(exc).__name__)
    return Check("database", ok=True)


def check_broker() -> Check:
    try:
        # One attempt, bounded: a probe must answer quickly, not ride out an outage with retries.
        with celery_app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, timeout=settings.HEALTHCHECK_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - as above; the URL is never echoed since it may hold a password
        logger.warning("health check: broker unavailable: %s", type(exc).__name__)
        return Check("broker", ok=False, error=type(exc).__name__)
    return Check("broker", ok=True)


def run_checks() -> list[Check]:
    return [check_database(), check_broker()]


# Beat's heartbeat lives beside the broker: a Redis key in production and tests, a file next to the filesystem
# broker's queue in the quick start. Every web process and worker can read it, and it needs no table.
HEARTBEAT_KEY = "garage:beat-heartbeat"


def _heartbeat_file():
    return settings.RUN_DIR / "beat-heartbeat"


def _redis() -> redis.Redis:
    timeout = settings.HEALTHCHECK_TIMEOUT
    return redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=timeout, socket_timeout=timeout)


def _uses_filesystem_broker() -> bool:
    return settings.CELERY_BROKER_URL.startswith("filesystem://")


def record_beat_heartbeat(when: datetime) -> None:
    """Records that a heartbeat scheduled by beat ran at `when`."""
    value = when.isoformat()
    if _uses_filesystem_broker():
        _heartbeat_file().write_text(value)
    else:
        with _redis() as client:
            client.set(HEARTBEAT_KEY, value)


def last_beat_heartbeat() -> datetime | None:
    """When the last heartbeat ran, or None if none ever did."""
    if _uses_filesystem_broker():
        path = _heartbeat_file()
        value = path.read_text() if path.exists() else None
    else:
        with _redis() as client:
            value = client.get(HEARTBEAT_KEY)
    if not value:
        return None
    return datetime.fromisoformat(value.decode() if isinstance(value, bytes) else value)


def check_beat() -> Check:
    """Is beat alive? Its heartbeat task, run by a worker, must be younger than BEAT_HEARTBEAT_MAX_AGE_SECONDS."""
    try:
        last = last_beat_heartbeat()
    except Exception as exc:  # noqa: BLE001 - as for the broker: the class name says which failure, never the URL
        logger.warning("health check: beat heartbeat unreadable: %s", type(exc).__name__)
        return Check("beat", ok=False, error=type(exc).__name__)
    if last is None:
        logger.warning("health check: beat has never sent a heartbeat")
        return Check("beat", ok=False, error="NoHeartbeat", details={"last_run": None})
    age = (timezone.now() - last).total_seconds()
    details = {"last_run": last.isoformat(), "age_seconds": round(age)}
    if age > settings.BEAT_HEARTBEAT_MAX_AGE_SECONDS:
        logger.warning("health check: beat heartbeat is stale (%d seconds old)", age)
        return Check("beat", ok=False, error="StaleHeartbeat", details=details)
    return Check("beat", ok=True, details=details)
