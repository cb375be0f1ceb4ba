"""Smartcar token calls per connection per day under each refresh policy: computed from the schedule, and counted in
a simulated day on the test clock against the bench's emulator (as tests/vehicles/test_refresh.py does for one
connection), over connections whose refresh tokens are of every age up to the keep-alive's."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from datetime import timedelta

import time_machine
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from accounts.models import User
from bench import refresh
from smartcar_emulator import services as emulator
from vehicles import smartcar_client
from vehicles.models import SmartcarConnection
from vehicles.services import tokens

logger = logging.getLogger("bench")

DAY = timedelta(days=1)
# Connections per simulated day. Where only the keep-alive refreshes, their refresh tokens' ages spread evenly over
# TOKEN_REFRESH_MAX_AGE_DAYS, so that one in as many as that reaches its age during the day; where the access tokens
# are refreshed, every connection makes the same calls, and a few show it.
KEEP_ALIVE_CONNECTIONS = 50
CONNECTIONS = 10


@dataclass(frozen=True)
class Scenario:
    name: str
    policy: str
    # How often something needs the connection's access token (the periodic fetch); None: never (webhooks).
    used_every: timedelta | None
    connections: int = CONNECTIONS


@dataclass
class Day:
    scenario: Scenario
    computed: float
    formula: str
    connections: int
    calls: int
    seconds: float

    @property
    def simulated(self) -> float:
        return self.calls / self.connections


def scenarios() -> list[Scenario]:
    hourly = timedelta(minutes=settings.VEHICLE_DATA_SYNC_MINUTES or 60)
    return [
        Scenario("warm", "warm", None),
        Scenario(f"on-use, data fetched every {_minutes(hourly)} min", "on-use", hourly),
        Scenario("on-use, data by webhook", "on-use", None, connections=KEEP_ALIVE_CONNECTIONS),
    ]


def _minutes(span: timedelta) -> int:
    return int(span.total_seconds() // 60)


def computed(scenario: Scenario) -> tuple[float, str]:
    """Calls per connection per day from the schedule, and how."""
    lifetime = _minutes(emulator.ACCESS_LIFETIME)  # Smartcar's access token: two hours
    sweep = settings.TOKEN_REFRESH_INTERVAL_MINUTES
    keep_alive = settings.TOKEN_REFRESH_MAX_AGE_DAYS
    if scenario.policy == "warm":
        # Refreshed at the first sweep at most the lead time before the token ends; each refresh renews the refresh
        # token too, so the keep-alive never comes due.
        period = sweep * math.ceil((lifetime - settings.TOKEN_REFRESH_LEAD_TIME_MINUTES) / sweep)
        return 1440 / period, (
            f"1440 min ÷ {period} min (a {lifetime}-min token refreshed {settings.TOKEN_REFRESH_LEAD_TIME_MINUTES} min "
            f"before it ends, at a {sweep}-min sweep)"
        )
    if scenario.used_every is not None:
        # A token serves every use that finds it valid beyond the margin; the next use refreshes it.
        every = _minutes(scenario.used_every)
        margin = _minutes(tokens.ACCESS_TOKEN_MARGIN)
        uses = math.ceil((lifetime - margin) / every)
        return 1440 / every / uses, (
            f"{1440 // every} uses a day ÷ {uses} uses per token (a {lifetime}-min token used until {margin} min "
            "before it ends)"
        )
    return 1 / keep_alive, f"1 ÷ {keep_alive} days (only the refresh token kept alive)"


def _connections(count: int, start) -> list[int]:
    """`count` connections with real refresh tokens whose ages spread evenly over the keep-alive's age; the access
    token is as old as the refresh token it came with, so expired."""
    ids = refresh.create_connections(refresh.issue_refresh_tokens(count), prefix="policy")
    keep_alive = timedelta(days=settings.TOKEN_REFRESH_MAX_AGE_DAYS)
    for position, pk in enumerate(ids):
        issued = start - keep_alive * (position + 0.5) / count
        SmartcarConnection.objects.filter(pk=pk).update(
            access_expires_at=issued + emulator.ACCESS_LIFETIME,
            refresh_expires_at=issued + smartcar_client.REFRESH_TOKEN_LIFETIME,
        )
    return ids


def simulate(scenario: Scenario) -> Day:
    """Twenty-four hours on the test clock: beat's sweep every TOKEN_REFRESH_INTERVAL_MINUTES refreshing what is due,
    and each connection's access token asked for as often as the scenario uses it. The token calls the emulator
    logged."""
    began = time.monotonic()
    start = timezone.now()
    ids = _connections(scenario.connections, start)
    step = timedelta(minutes=settings.TOKEN_REFRESH_INTERVAL_MINUTES)
    next_use = start
    ours = set(ids)
    before = refresh.token_calls()
    with override_settings(TOKEN_REFRESH_POLICY=scenario.policy), time_machine.travel(start, tick=False) as clock:
        while timezone.now() < start + DAY:
            # The scan as beat runs it; the bench's other people (the pages') hold no real tokens.
            for connection_id in tokens.due_connection_ids():
                if connection_id in ours:
                    tokens.refresh_due_connection(connection_id=connection_id)
            if scenario.used_every is not None and timezone.now() >= next_use:
                for connection in SmartcarConnection.objects.filter(pk__in=ids):
                    tokens.get_access_token(connection=connection)
                next_use += scenario.used_every
            clock.shift(step)
    calls = refresh.token_calls() - before
    # Gone before the refresh runs, whose sweeps would otherwise find them due.
    User.objects.filter(smartcar_connections__pk__in=ids).delete()
    value, formula = computed(scenario)
    day = Day(scenario, value, formula, scenario.connections, calls, time.monotonic() - began)
    logger.info("policy %s: %.2f calls a connection a day (computed %.2f)", scenario.name, day.simulated, value)
    return day
