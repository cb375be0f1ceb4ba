"""A sweep of many due connections while Smartcar's token endpoint fails often: nobody is wrongly disconnected."""

from __future__ import annotations

import contextlib
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from smartcar_emulator import clock, fleet
from smartcar_emulator import services as emulator
from tests.factories import UserFactory
from tests.vehicles.token_proxy import LOSE_ANSWER, SERVER_ERROR, TokenProxy
from vehicles.models import SmartcarConnection
from vehicles.services import tokens

pytestmark = pytest.mark.django_db(transaction=True)

CONNECTIONS = 500
FAILURE_RATE = 0.3


def granted_connection(number: int) -> SmartcarConnection:
    """A connection holding real emulator tokens, created without clicking through Connect; already due."""
    account = fleet.user_with_fleet(username=f"sweep{number}@example.com", now=clock.now())
    code = emulator.issue_code(
        user=account,
        client_id=settings.SMARTCAR_EMULATOR_CLIENT_ID,
        redirect_uri=settings.SMARTCAR_REDIRECT_URI,
        scopes=["read_vehicle_info"],
        vehicles=list(account.vehicles.all()),
    )
    issued = emulator.exchange_code(
        client_id=settings.SMARTCAR_EMULATOR_CLIENT_ID, code=code, redirect_uri=settings.SMARTCAR_REDIRECT_URI
    )
    now = timezone.now()
    return SmartcarConnection.objects.create(
        owner=UserFactory(),
        smartcar_user_id=str(account.smartcar_id),
        access_token=issued.access_token,
        refresh_token=issued.refresh_token,
        access_expires_at=now - timedelta(minutes=1),
        refresh_expires_at=now + timedelta(days=60),
    )


def test_a_sweep_with_a_third_of_token_calls_failing_leaves_every_connection_active_and_fresh(smartcar, settings):
    for number in range(CONNECTIONS):
        granted_connection(number)
    settings.SMARTCAR_HTTP_TIMEOUT = 0.3

    passes = 0
    with TokenProxy(
        settings.SMARTCAR_AUTH_ORIGIN, failures=[SERVER_ERROR, LOSE_ANSWER], failure_rate=FAILURE_RATE, seed=7
    ) as proxy:
        settings.SMARTCAR_AUTH_ORIGIN = proxy.url
        # Each pass is what one beat sweep does synchronously; failed ones stay due for the next pass.
        while tokens.due_connection_ids() and passes < 10:
            passes += 1
            # The command exits with an error while some refreshes failed; the next pass takes those again.
            with contextlib.suppress(CommandError):
                call_command("refresh_tokens", "--all-due", verbosity=0)

    failed_calls = sum(call != "pass" for call in proxy.calls)
    assert failed_calls / len(proxy.calls) == pytest.approx(FAILURE_RATE, abs=0.05)
    assert tokens.due_connection_ids() == []
    statuses = SmartcarConnection.objects.values_list("status", flat=True)
    assert list(statuses.distinct()) == [SmartcarConnection.Status.ACTIVE]
    assert SmartcarConnection.objects.filter(access_expires_at__gt=timezone.now() + timedelta(hours=1)).count() == (
        CONNECTIONS
    )
    assert passes <= 5
