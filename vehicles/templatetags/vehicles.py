"""Template tags and filters for the vehicle pages."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.safestring import SafeString

from vehicles import presentation

register = template.Library()


@register.filter
def age(moment: datetime | None) -> str:
    """How long ago, in words: "just now" under a minute, then as timesince words it ("3 minutes ago")."""
    return presentation.age(moment, timezone.now())


@register.simple_tag
def vehicle_table_rows(vehicles: Iterable[dict]) -> SafeString:
    """The vehicles table's rows, from Vehicle.objects.for_table()."""
    return presentation.vehicle_table_rows(vehicles)
