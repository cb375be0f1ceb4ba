"""Template filters for the vehicle pages."""

from __future__ import annotations

from datetime import datetime, timedelta

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

register = template.Library()


@register.filter
def age(moment: datetime | None) -> str:
    """How long ago, in timesince's words ("3 minutes ago", "2 days, 4 hours ago"), or "just now" under a minute,
    where timesince would say "0 minutes"."""
    if moment is None:
        return ""
    now = timezone.now()
    if now - moment < timedelta(minutes=1):
        return "just now"
    return f"{timesince(moment, now)} ago"
