"""Readiness probes for /healthz: can this process reach its database and its broker?"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import connections

from config.celery import app as celery_app

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    error: str = ""


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
