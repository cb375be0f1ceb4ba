"""Template filters for the vehicle pages."""

from __future__ import annotations

from datetime import datetime, timedelta

from django import template
from django.utils import dateformat, timezone
from django.utils.html import format_html
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


@register.filter
def moment(value: datetime | None) -> str:
    """A <time> that reads how long ago `value` was ("3 minutes ago"), with the date and time itself in its tooltip
    ("1 March 2026, 12:00 UTC") and for machines; empty for None. A filter rather than an included template: the
    garage shows one per car."""
    if value is None:
        return ""
    local = timezone.localtime(value)
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        local.isoformat(),
        dateformat.format(local, "j F Y, H:i T"),
        age(value),
    )
