"""The emulator's clock: real time plus an offset kept in the database, so every process agrees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.utils import timezone

from smartcar_emulator.models import Knobs


def knobs() -> Knobs:
    """The shared settings row, created on first use."""
    row, _ = Knobs.objects.get_or_create(pk=1)
    return row


def now() -> datetime:
    """What time the emulator believes it is; every expiry decision is made against this."""
    return timezone.now() + timedelta(seconds=knobs().clock_offset_seconds)


def set_offset(*, seconds: int) -> int:
    Knobs.objects.update_or_create(pk=1, defaults={"clock_offset_seconds": seconds})
    return seconds


def advance(*, seconds: int) -> int:
    row = knobs()
    return set_offset(seconds=row.clock_offset_seconds + seconds)


def isoformat(moment: datetime) -> str:
    """Smartcar's timestamp format: UTC with milliseconds and a Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
