"""The emulator's clock: real time plus an offset kept in the database, so every process agrees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.utils import timezone

from smartcar_emulator.models import Knobs

# Far enough for any expiry worth testing (Smartcar's longest is a refresh token's 60 days), near enough that every
# time the emulator computes from its clock stays a valid date.
MAX_OFFSET_SECONDS = 36525 * 24 * 60 * 60


class OffsetOutOfRange(ValueError):
    """The clock would move more than MAX_OFFSET_SECONDS (100 years) away from real time."""


def knobs() -> Knobs:
    """The shared settings row, created on first use."""
    row, _ = Knobs.objects.get_or_create(pk=1)
    return row


def now() -> datetime:
    """What time the emulator believes it is; every expiry decision is made against this."""
    return timezone.now() + timedelta(seconds=knobs().clock_offset_seconds)


def set_offset(*, seconds: int) -> int:
    """Set the clock `seconds` away from real time; raises OffsetOutOfRange, storing nothing, beyond 100 years."""
    if abs(seconds) > MAX_OFFSET_SECONDS:
        raise OffsetOutOfRange(
            f"the clock must stay within {MAX_OFFSET_SECONDS} seconds (100 years) of real time, "
            f"and an offset of {seconds} seconds is not"
        )
    Knobs.objects.update_or_create(pk=1, defaults={"clock_offset_seconds": seconds})
    return seconds


def advance(*, seconds: int) -> int:
    row = knobs()
    return set_offset(seconds=row.clock_offset_seconds + seconds)


def isoformat(moment: datetime) -> str:
    """Smartcar's timestamp format: UTC with milliseconds and a Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
