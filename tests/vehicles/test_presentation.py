from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from vehicles.templatetags.vehicles import age


def test_age_says_just_now_under_a_minute_then_how_long_ago():
    now = timezone.now()

    assert age(now - timedelta(seconds=5)) == "just now"
    assert age(now - timedelta(minutes=3)) == "3\xa0minutes ago"
    assert age(None) == ""
