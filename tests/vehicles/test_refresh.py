"""The token refresh choke point against the emulator, on PostgreSQL, with real threads and processes."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import smartcar as smartcar_sdk
import time_machine
from django.db import connection as db
from django.urls import reverse
from django.utils import timezone
from smartcar.exception import SmartcarException

from smartcar_emulator.models import RequestLog
from tests.helpers import in_threads
from tests.vehicles.token_proxy import LOSE_ANSWER, PASS, RATE_LIMITED, SERVER_ERROR, SLOW, TokenProxy
from vehicles import tasks
from vehicles.models import SmartcarConnection
from vehicles.services import tokens
from vehicles.smartcar_client import AppMisconfigured, ReauthRequired, Transient

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]


def token_calls() -> int:
    """How many requests reached the emulator's token endpoint."""
    return RequestLog.objects.filter(path__endswith="/auth/oauth/token").count()


def make_due(connection: SmartcarConnection) -> SmartcarConnection:
    SmartcarConnection.objects.filter(pk=connection.pk).update(access_expires_at=timezone.now() - timedelta(minutes=1))
    return SmartcarConnection.objects.get(pk=connection.pk)


def works_at_smartcar(access_token: str) -> bool:
    try:
        smartcar_sdk.get_user(access_token)
    except SmartcarException:
        return False
    return True


def test_a_fresh_token_causes_no_token_endpoint_call(alice_connection):
    before = token_calls()

    token = tokens.get_access_token(connection=alice_connection)

    assert token == alice_connection.access_token
    assert token_calls() == before
    assert tokens.refresh_due_connection(connection_id=alice_connection.pk).token_version == 1
    assert token_calls() == before


def test_concurrent_refreshers_make_one_call_and_all_get_the_new_token(alice_connection):
    due = make_due(alice_connection)
    before = token_calls()
    handed_out: list[str] = []
    errors: list[BaseException] = []

    def refresher() -> None:
        try:
            handed_out.append(tokens.get_access_token(connection=SmartcarConnection.objects.get(pk=due.pk)))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    in_threads(refresher, 12)

    assert errors == []
    assert token_calls() == before + 1
    stored = SmartcarConnection.objects.get(pk=due.pk)
    assert set(handed_out) == {stored.access_token}
    assert stored.access_token != alice_connection.access_token
    assert stored.token_version == 2
    assert works_at_smartcar(stored.access_token)


def test_concurrent_refresh_commands_in_processes_make_one_call(alice_connection, live_server, settings):
    due = make_due(alice_connection)
    before = token_calls()
    database = db.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        "SMARTCAR_AUTH_ORIGIN": settings.SMARTCAR_AUTH_ORIGIN,
        "SMARTCAR_API_ORIGIN": settings.SMARTCAR_API_ORIGIN,
    }
    command = [sys.executable, "manage.py", "refresh_tokens", "--connection", str(due.pk)]

    processes = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # noqa: S603
        for _ in range(10)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]

    assert [process.returncode for process in processes] == [0] * 10, outputs
    summaries = sorted(stdout.strip() for stdout, _ in outputs)
    assert summaries == ["0 refreshed, 1 not due, 0 failed"] * 9 + ["1 refreshed, 0 not due, 0 failed"]
    assert token_calls() == before + 1
    stored = SmartcarConnection.objects.get(pk=due.pk)
    assert stored.status == SmartcarConnection.Status.ACTIVE
    assert stored.token_version == 2
    assert works_at_smartcar(stored.access_token)


def test_duplicate_task_deliveries_refresh_once(alice_connection):
    due = make_due(alice_connection)
    before = token_calls()

    in_threads(lambda: tasks.refresh_connection.apply(args=[due.pk]), 4)
    tasks.refresh_connection.apply(args=[due.pk])

    assert token_calls() == before + 1
    assert SmartcarConnection.objects.get(pk=due.pk).token_version == 2


def test_an_operators_refresh_now_is_forced_but_idempotent(alice_connection):
    before = token_calls()

    tasks.refresh_connection.apply(args=[alice_connection.pk], kwargs={"if_version": 1})
    tasks.refresh_connection.apply(args=[alice_connection.pk], kwargs={"if_version": 1})

    assert token_calls() == before + 1
    assert SmartcarConnection.objects.get(pk=alice_connection.pk).token_version == 2


def test_the_sweep_queues_due_active_connections_only(alice_connection, bob, connect_car):
    from django.test import Client

    bob_client = Client()
    bob_client.force_login(bob)
    connect_car(bob_client, username="other.driver@example.com")
    bobs = SmartcarConnection.objects.get(owner=bob)
    make_due(alice_connection)

    assert tokens.due_connection_ids() == [alice_connection.pk]
    SmartcarConnection.objects.filter(pk=alice_connection.pk).update(status=SmartcarConnection.Status.NEEDS_REAUTH)
    assert tokens.due_connection_ids() == []
    aging = timezone.now() + timedelta(days=60 - 50) - timedelta(minutes=1)
    SmartcarConnection.objects.filter(pk=bobs.pk).update(refresh_expires_at=aging)
    assert tokens.due_connection_ids() == [bobs.pk]


def test_invalid_grant_needs_reconnecting_once_and_reconnecting_restores_the_connection(
    alice_client, alice_connection, connect_car
):
    # 61 days on, the emulator's refresh token has expired: Smartcar answers invalid_grant.
    with time_machine.travel(timezone.now() + timedelta(days=61)):
        before = token_calls()
        with pytest.raises(ReauthRequired):
            tokens.get_access_token(connection=alice_connection)
        with pytest.raises(ReauthRequired):
            tokens.get_access_token(connection=SmartcarConnection.objects.get(pk=alice_connection.pk))
        tasks.refresh_connection.apply(args=[alice_connection.pk])
        assert tokens.due_connection_ids() == []
        assert token_calls() == before + 1

        stored = SmartcarConnection.objects.get(pk=alice_connection.pk)
        assert stored.status == SmartcarConnection.Status.NEEDS_REAUTH
        assert stored.last_error.startswith("ReauthRequired")
        alice_client.force_login(stored.owner)  # the session itself expired in those 61 days
        page = alice_client.get(reverse("vehicles:list")).content.decode()
        assert "Needs reconnecting" in page
        assert f'href="{reverse("connect")}?make=' in page  # Connect opened at the car's make

        connect_car(alice_client, username="driver@example.com")

    restored = SmartcarConnection.objects.get(owner=alice_connection.owner)
    assert restored.pk == alice_connection.pk
    assert restored.status == SmartcarConnection.Status.ACTIVE
    assert restored.last_error == ""
    assert works_at_smartcar(restored.access_token)


def test_invalid_client_changes_no_connection(alice_connection, settings, caplog):
    due = make_due(alice_connection)
    settings.SMARTCAR_CLIENT_SECRET = "a-rotated-secret"

    with caplog.at_level(logging.ERROR), pytest.raises(AppMisconfigured):
        tokens.refresh_if_due(connection_id=due.pk)
    tasks.refresh_connection.apply(args=[due.pk])

    stored = SmartcarConnection.objects.get(pk=due.pk)
    assert stored.status == SmartcarConnection.Status.ACTIVE
    assert stored.last_error == ""
    assert (stored.access_token, stored.refresh_token, stored.token_version) == (
        due.access_token,
        due.refresh_token,
        due.token_version,
    )
    assert "Smartcar rejected the client credentials" in caplog.text


def test_an_unknown_outcome_timeout_is_retried_at_once_with_the_same_refresh_token(alice_connection, settings):
    due = make_due(alice_connection)
    settings.SMARTCAR_HTTP_TIMEOUT = 1.0
    before = token_calls()

    with TokenProxy(settings.SMARTCAR_AUTH_ORIGIN, [LOSE_ANSWER, PASS]) as proxy:
        settings.SMARTCAR_AUTH_ORIGIN = proxy.url
        token = tokens.get_access_token(connection=due)

    assert proxy.calls == [LOSE_ANSWER, PASS]
    # Both reached the emulator with the same refresh token; the second, inside the grace, got a new pair.
    assert token_calls() == before + 2
    stored = SmartcarConnection.objects.get(pk=due.pk)
    assert stored.access_token == token
    assert stored.status == SmartcarConnection.Status.ACTIVE
    assert works_at_smartcar(token)


def test_after_a_lost_answer_the_refresh_keeps_trying_inside_the_grace(alice_connection, settings):
    due = make_due(alice_connection)
    settings.SMARTCAR_HTTP_TIMEOUT = 0.5

    with TokenProxy(settings.SMARTCAR_AUTH_ORIGIN, [LOSE_ANSWER, SERVER_ERROR, LOSE_ANSWER, PASS]) as proxy:
        settings.SMARTCAR_AUTH_ORIGIN = proxy.url
        tokens.refresh_due_connection(connection_id=due.pk)

    assert proxy.calls == [LOSE_ANSWER, SERVER_ERROR, LOSE_ANSWER, PASS]
    stored = SmartcarConnection.objects.get(pk=due.pk)
    assert stored.status == SmartcarConnection.Status.ACTIVE
    assert works_at_smartcar(stored.access_token)


def test_a_server_error_is_retried_at_once_with_the_same_refresh_token(alice_connection, settings):
    # A 5xx may come after Smartcar rotated the tokens: only a retry inside the grace can bring them back.
    due = make_due(alice_connection)

    with TokenProxy(settings.SMARTCAR_AUTH_ORIGIN, [SERVER_ERROR, PASS]) as proxy:
        settings.SMARTCAR_AUTH_ORIGIN = proxy.url
        tokens.refresh_due_connection(connection_id=due.pk)

    assert proxy.calls == [SERVER_ERROR, PASS]
    recovered = SmartcarConnection.objects.get(pk=due.pk)
    assert recovered.status == SmartcarConnection.Status.ACTIVE
    assert recovered.token_version == due.token_version + 1
    assert recovered.refresh_started_at is None
    assert works_at_smartcar(recovered.access_token)


def test_an_unreachable_token_endpoint_leaves_the_connection_active_for_a_later_retry(
    alice_connection, settings, unused_port
):
    due = make_due(alice_connection)
    token_endpoint = settings.SMARTCAR_AUTH_ORIGIN
    before = token_calls()

    settings.SMARTCAR_AUTH_ORIGIN = f"http://127.0.0.1:{unused_port}/oauth/token"
    with pytest.raises(Transient) as raised:
        tokens.refresh_due_connection(connection_id=due.pk)

    # Nothing was sent, so nothing can have rotated: no quick retries, the task's backoff takes over.
    assert not raised.value.unknown_outcome
    failed = SmartcarConnection.objects.get(pk=due.pk)
    assert failed.status == SmartcarConnection.Status.ACTIVE
    assert failed.refresh_started_at is None
    assert "unreachable" in failed.last_error
    assert token_calls() == before

    settings.SMARTCAR_AUTH_ORIGIN = token_endpoint
    tokens.refresh_due_connection(connection_id=due.pk)
    recovered = SmartcarConnection.objects.get(pk=due.pk)
    assert recovered.last_error == ""
    assert works_at_smartcar(recovered.access_token)


def test_a_rate_limited_refresh_retries_no_sooner_than_retry_after(alice_connection, settings, monkeypatch):
    due = make_due(alice_connection)
    delays: list[float] = []
    real_backoff = tasks.backoff_seconds

    def recording_backoff(attempt: int, retry_after: float | None = None) -> float:
        delay = real_backoff(attempt, retry_after)
        delays.append(delay)
        return delay

    monkeypatch.setattr(tasks, "backoff_seconds", recording_backoff)
    with TokenProxy(settings.SMARTCAR_AUTH_ORIGIN, default=RATE_LIMITED) as proxy:
        settings.SMARTCAR_AUTH_ORIGIN = proxy.url
        tasks.refresh_connection.apply(args=[due.pk])

    # Every attempt asks for a delay; Celery refuses the one after the last retry.
    assert len(delays) == tasks.REFRESH_MAX_RETRIES + 1
    assert all(delay >= 120 for delay in delays)
    assert SmartcarConnection.objects.get(pk=due.pk).status == SmartcarConnection.Status.ACTIVE


def test_backoff_grows_with_jitter_up_to_the_cap():
    for attempt in range(12):
        ceiling = min(tasks.BACKOFF_CAP_SECONDS, tasks.BACKOFF_BASE_SECONDS * 2**attempt)
        delays = {tasks.backoff_seconds(attempt) for _ in range(20)}
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
        assert len(delays) > 1
    assert tasks.backoff_seconds(0, retry_after=900) >= 900


def test_an_idle_connection_is_kept_alive_past_fifty_days(alice_connection):
    # Nobody uses the car for 55 days; the access token died long ago, the refresh token is 55 days old.
    with time_machine.travel(timezone.now() + timedelta(days=55)):
        assert tokens.due_connection_ids() == [alice_connection.pk]
        tasks.refresh_due_connections.apply()
        tasks.refresh_connection.apply(args=[alice_connection.pk])
        stored = SmartcarConnection.objects.get(pk=alice_connection.pk)
        assert stored.status == SmartcarConnection.Status.ACTIVE
        assert stored.token_version == 2
        assert works_at_smartcar(stored.access_token)
        assert stored.refresh_expires_at > timezone.now() + timedelta(days=59)


def test_a_reconnect_racing_a_refresh_waits_for_it_and_wins(alice_client, alice_connection, connect_car, settings):
    due = make_due(alice_connection)
    refreshed: list[str] = []

    def refresh() -> None:
        try:
            refreshed.append(tokens.get_access_token(connection=due))
        finally:
            db.close()

    with TokenProxy(settings.SMARTCAR_AUTH_ORIGIN, [SLOW, PASS]) as proxy:
        settings.SMARTCAR_AUTH_ORIGIN = proxy.url
        refresher = threading.Thread(target=refresh)
        refresher.start()
        # The refresher now holds the row lock while Smartcar takes its time; reconnect the same account meanwhile.
        while not proxy.calls:
            time.sleep(0.01)
        walk = connect_car(alice_client, username="driver@example.com")
        refresher.join(timeout=30)

    assert proxy.calls == [SLOW, PASS]
    assert walk.response.url == reverse("vehicles:list")
    stored = SmartcarConnection.objects.get(pk=due.pk)
    # Refresh (version 2) committed first; the reconnect waited for the lock, re-read the row and made version 3.
    assert stored.token_version == 3
    assert stored.access_token != refreshed[0]
    assert stored.connected_at > stored.last_refreshed_at
    assert works_at_smartcar(stored.access_token)


def test_the_on_use_policy_refreshes_only_aging_refresh_tokens_and_what_a_caller_needs(alice_connection, settings):
    settings.TOKEN_REFRESH_POLICY = "on-use"
    expiring = make_due(alice_connection)
    assert tokens.due_connection_ids() == []

    # A fetch or command that needs the token refreshes it on the spot, through the same choke point.
    token = tokens.get_access_token(connection=expiring)
    assert works_at_smartcar(token)

    # A refresh token 51 days old is kept alive whatever the policy.
    with time_machine.travel(timezone.now() + timedelta(days=51)):
        assert tokens.due_connection_ids() == [expiring.pk]
        settings.TOKEN_REFRESH_POLICY = "warm"
        assert tokens.due_connection_ids() == [expiring.pk]


def test_an_unknown_refresh_policy_stops_start_up():
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env={**os.environ, "TOKEN_REFRESH_POLICY": "lazy"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "TOKEN_REFRESH_POLICY must be one of warm, on-use, not 'lazy'" in result.stderr


def simulated_day(connection: SmartcarConnection, *, fetch_every: timedelta | None = None) -> int:
    """Twenty-four hours on the test clock, beat's sweep every TOKEN_REFRESH_INTERVAL_MINUTES, and (optionally) a
    fetch of the car's data as often as `fetch_every`, which needs a valid access token; the token-endpoint calls
    it took, against the emulator."""
    before = token_calls()
    start = timezone.now()
    step = timedelta(minutes=5)
    next_fetch = start
    with time_machine.travel(start, tick=False) as traveller:
        for _ in range(24 * 12):
            for connection_id in tokens.due_connection_ids():
                tokens.refresh_due_connection(connection_id=connection_id)
            if fetch_every is not None and timezone.now() >= next_fetch:
                tokens.get_access_token(connection=SmartcarConnection.objects.get(pk=connection.pk))
                next_fetch += fetch_every
            traveller.shift(step)
    return token_calls() - before


@pytest.mark.parametrize(
    ("policy", "fetch_every", "low", "high"),
    [
        # Warm: a 2-hour access token refreshed 30 minutes (plus up to one 5-minute sweep) before it ends.
        ("warm", None, 15, 17),
        # On use, polled hourly: a token is needed every hour and lasts two, less the 5-minute margin.
        ("on-use", timedelta(hours=1), 11, 13),
        # On use, the data pushed by webhook: no call in a day (the refresh token is renewed every 50 days).
        ("on-use", None, 0, 0),
    ],
)
def test_token_calls_per_connection_per_day_under_each_policy(
    alice_connection, settings, policy, fetch_every, low, high
):
    settings.TOKEN_REFRESH_POLICY = policy

    calls = simulated_day(alice_connection, fetch_every=fetch_every)

    assert low <= calls <= high
