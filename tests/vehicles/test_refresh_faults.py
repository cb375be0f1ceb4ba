"""A refresh whose answer may be lost is recovered with the same refresh token inside Smartcar's grace: faults after
the request was sent, a refresher killed mid-call, a database that refuses the new tokens, a web request that cannot
wait. Real PostgreSQL, Redis, processes and the emulator over HTTP; the faults come from a proxy in front of the
token endpoint (tests/vehicles/token_proxy.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta

import psycopg
import pytest
import time_machine
from django.db import connection as db
from django.utils import timezone

from tests.helpers import take_queued_tasks
from tests.vehicles.test_refresh import ROOT, make_due, token_calls, works_at_smartcar
from tests.vehicles.token_proxy import AFTER_SEND_FAULTS, LOSE_ANSWER, PASS, SLOW_BEYOND, TokenProxy
from vehicles import pending_saves, smartcar_client, tasks
from vehicles.models import SmartcarConnection
from vehicles.services import tokens

pytestmark = pytest.mark.django_db(transaction=True)


def stored(connection: SmartcarConnection) -> SmartcarConnection:
    return SmartcarConnection.objects.get(pk=connection.pk)


def assert_refreshed_once_and_alive(connection: SmartcarConnection) -> None:
    now = stored(connection)
    assert now.status == SmartcarConnection.Status.ACTIVE
    assert now.token_version == connection.token_version + 1
    assert now.refresh_started_at is None
    assert works_at_smartcar(now.access_token)


@pytest.mark.parametrize("fault", AFTER_SEND_FAULTS)
def test_a_fault_after_the_request_was_sent_is_retried_at_once_with_the_same_token(alice_connection, settings, fault):
    due = make_due(alice_connection)
    settings.SMARTCAR_HTTP_TIMEOUT = 1.0
    before = token_calls()

    with TokenProxy(settings.SMARTCAR_AUTH_ORIGIN, [fault, PASS], hold_seconds=5) as proxy:
        settings.SMARTCAR_AUTH_ORIGIN = proxy.url
        tokens.refresh_due_connection(connection_id=due.pk)

    assert proxy.calls == [fault, PASS]
    # Both reached the emulator with the same refresh token; the second, inside the grace, got the pair now stored.
    assert token_calls() == before + 2
    assert_refreshed_once_and_alive(due)


def test_a_token_endpoint_slower_than_the_timeout_is_waited_for_on_the_last_try(
    alice_connection, settings, monkeypatch
):
    due = make_due(alice_connection)
    settings.SMARTCAR_HTTP_TIMEOUT = 0.5
    monkeypatch.setattr(tokens, "RECOVERY_WINDOW", timedelta(seconds=2))

    # Every answer comes 0.8 s late: each try gives up at 0.5 s but the last one, which waits twice as long.
    with TokenProxy(settings.SMARTCAR_AUTH_ORIGIN, default=SLOW_BEYOND, slow_seconds=0.8) as proxy:
        settings.SMARTCAR_AUTH_ORIGIN = proxy.url
        tokens.refresh_due_connection(connection_id=due.pk)

    assert len(proxy.calls) > 2
    assert_refreshed_once_and_alive(due)


def test_a_web_request_hands_an_unknown_outcome_to_a_worker_which_recovers_it(alice_connection, settings):
    due = make_due(alice_connection)
    settings.SMARTCAR_HTTP_TIMEOUT = 1.0
    take_queued_tasks()

    with TokenProxy(settings.SMARTCAR_AUTH_ORIGIN, [LOSE_ANSWER], hold_seconds=5) as proxy:
        settings.SMARTCAR_AUTH_ORIGIN = proxy.url
        with smartcar_client.time_budget(settings.SMARTCAR_WEB_TIME_BUDGET), pytest.raises(tokens.RecoveryHandedOff):
            tokens.get_access_token(connection=due)

        # The person is told to try again in a moment; the intent stays for the worker, never a dead "active" token.
        handed_off = stored(due)
        assert handed_off.status == SmartcarConnection.Status.ACTIVE
        assert handed_off.refresh_started_at is not None
        [recovery] = take_queued_tasks()
        assert recovery.name == tasks.recover_refresh.name
        assert recovery.args[0] == due.pk

        tasks.recover_refresh.apply(args=recovery.args)

    assert proxy.calls == [LOSE_ANSWER, PASS]
    assert_refreshed_once_and_alive(due)


def refresher_process(connection: SmartcarConnection, settings, token_endpoint: str) -> subprocess.Popen:
    """`manage.py refresh_tokens --connection ID` in a process of its own, on this test's database."""
    database = db.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        "SMARTCAR_AUTH_ORIGIN": token_endpoint,
        "SMARTCAR_HTTP_TIMEOUT": "30",
    }
    command = [sys.executable, "manage.py", "refresh_tokens", "--connection", str(connection.pk), "--force"]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603


def kill_once_answered(process: subprocess.Popen, proxy: TokenProxy) -> None:
    """SIGKILL the refresher once Smartcar has rotated the tokens and before it hears so."""
    deadline = time.monotonic() + 60
    while not proxy.rotated.is_set() and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


def rotated_flag(proxy_kwargs: dict) -> threading.Event:
    event = threading.Event()
    proxy_kwargs["on_rotated"] = lambda action: event.set()
    return event


def test_a_refresher_killed_after_smartcar_answered_is_recovered_by_the_recovery_sweep(alice_connection, settings):
    due = make_due(alice_connection)
    options: dict = {}
    rotated = rotated_flag(options)
    take_queued_tasks()

    with TokenProxy(settings.SMARTCAR_AUTH_ORIGIN, [LOSE_ANSWER, PASS], hold_seconds=20, **options) as proxy:
        proxy.rotated = rotated
        process = refresher_process(due, settings, proxy.url)
        kill_once_answered(process, proxy)
        orphaned = stored(due)
        # The killed refresher left its committed intent, at the version it started from.
        assert orphaned.refresh_started_at is not None
        assert orphaned.token_version == due.token_version

        settings.SMARTCAR_AUTH_ORIGIN = proxy.url
        with time_machine.travel(timezone.now() + timedelta(seconds=4), tick=True):
            tasks.recover_orphaned_refreshes.apply()
            [recovery] = take_queued_tasks()
            assert (recovery.name, recovery.args) == (tasks.recover_refresh.name, [due.pk])
            tasks.recover_refresh.apply(args=recovery.args)

    assert proxy.calls == [LOSE_ANSWER, PASS]
    assert_refreshed_once_and_alive(due)


def test_a_recovery_after_the_grace_marks_the_connection_for_reconnecting_never_leaves_it_active(
    alice_connection, settings, control
):
    due = make_due(alice_connection)
    options: dict = {}
    rotated = rotated_flag(options)

    with TokenProxy(settings.SMARTCAR_AUTH_ORIGIN, [LOSE_ANSWER, PASS], hold_seconds=20, **options) as proxy:
        proxy.rotated = rotated
        process = refresher_process(due, settings, proxy.url)
        kill_once_answered(process, proxy)
        # Nobody came back within the grace (at Smartcar's clock): the stored refresh token is dead.
        assert control("POST", "clock", json={"advance_seconds": 61}).status_code == 200
        settings.SMARTCAR_AUTH_ORIGIN = proxy.url
        with time_machine.travel(timezone.now() + timedelta(seconds=4), tick=True):
            assert tokens.orphaned_refresh_ids() == [due.pk]
            tasks.recover_refresh.apply(args=[due.pk])

    dead = stored(due)
    assert dead.status == SmartcarConnection.Status.NEEDS_REAUTH
    assert dead.refresh_started_at is None
    assert tokens.orphaned_refresh_ids() == []


@pytest.fixture
def database_outage():
    """Calling it refuses new connections to the test database and cuts every existing one but this test's own;
    the end of the test (or `.end()`) lets connections in again."""
    database = db.settings_dict
    name = database["NAME"]
    with db.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        own_pid = cursor.fetchone()[0]
    admin = psycopg.connect(
        host=database["HOST"], port=database["PORT"], user=database["USER"], dbname="postgres", autocommit=True
    )

    class Outage:
        def start(self) -> None:
            admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> %s",
                [name, own_pid],
            )

        def end(self) -> None:
            admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')

    outage = Outage()
    yield outage
    outage.end()
    admin.close()


def test_new_tokens_the_database_could_not_take_are_kept_and_saved_once_it_is_back(
    alice_connection, settings, database_outage
):
    due = make_due(alice_connection)
    outcome: list[BaseException] = []

    def refresh() -> None:
        try:
            tokens.refresh_due_connection(connection_id=due.pk)
        except BaseException as exc:  # noqa: BLE001 - the test reads what the refresher saw
            outcome.append(exc)
        finally:
            db.close()

    def outage_once_answered(action: str) -> None:
        database_outage.start()

    with TokenProxy(settings.SMARTCAR_AUTH_ORIGIN, [PASS], on_rotated=outage_once_answered) as proxy:
        settings.SMARTCAR_AUTH_ORIGIN = proxy.url
        refresher = threading.Thread(target=refresh)
        refresher.start()
        refresher.join(timeout=30)

    assert [type(exc) for exc in outcome] == [tokens.TokensSavedLater]
    assert pending_saves.pending_count() == 1
    # The old refresh token's grace ends during the outage; the new pair lives only in the refresher's memory.
    time.sleep(2)
    assert stored(due).token_version == due.token_version
    assert pending_saves.pending_count() == 1

    database_outage.end()
    deadline = time.monotonic() + 30
    while pending_saves.pending_count() and time.monotonic() < deadline:
        time.sleep(0.1)

    assert pending_saves.pending_count() == 0
    assert_refreshed_once_and_alive(due)
