"""Project-wide periodic tasks: beat's heartbeat."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from config.health import record_beat_heartbeat


@shared_task
def beat_heartbeat() -> None:
    """Scheduled by beat and run by a worker: records the time, so that /healthz/beat notices when beat stops."""
    record_beat_heartbeat(timezone.now())
