"""Beat's sweep queues due connections in batches; a batch refreshes each on its own, retries a passing failure alone,
skips what cannot succeed, and hands the rest on when it has run long enough."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.checks import run_checks
from django.db import DatabaseError
from django.utils import timezone

from config.celery import app as celery_app
from tests.factories import SmartcarConnectionFactory
from tests.helpers import take_queued_tasks
from tests.vehicles.test_refresh import token_calls, works_at_smartcar
from tests.vehicles.test_refresh_sweep import granted_connection
from tests.vehicles.token_proxy import LOSE_ANSWER, PASS, RATE_LIMITED, TokenProxy
from vehicles import tasks
from vehicles.models import SmartcarConnection
from vehicles.services import tokens

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def empty_queue():
    celery_app.control.purge()
    yield
    celery_app.control.purge()


def due_connections(count: int, smartcar) -> list[SmartcarConnection]:
    """Connections holding real tokens from the emulator (the `smartcar` fixture serves it), all due."""
    return [granted_connection(number) for number in range(count)]


def refreshed(connection: SmartcarConnection) -> bool:
    stored = SmartcarConnection.objects.get(pk=connection.pk)
    return stored.token_version == connection.token_version + 1 and works_at_smartcar(stored.access_token)


def test_the_sweep_queues_every_due_connection_once_most_urgent_first_in_fixed_size_batches(settings):
    settings.TOKEN_REFRESH_BATCH_SIZE = 10
    now = timezone.now()
    # Queue contents only: no token is used, so plain rows will do. Urgency runs against the order of creation.
    due = [SmartcarConnectionFactory(access_expires_at=now - timedelta(seconds=number)) for number in range(95)][::-1]
    SmartcarConnectionFactory(access_expires_at=now + timedelta(hours=2))  # not due
    SmartcarConnectionFactory(access_expires_at=now - timedelta(hours=1), status=SmartcarConnection.Status.REVOKED)

    tasks.refresh_due_connections()

    queued = take_queued_tasks()
    assert {task.name for task in queued} == {tasks.refresh_connections.name}
    batches = [task.args[0] for task in queued]
    assert [pk for batch in batches for pk in batch] == [connection.pk for connection in due]
    assert [len(batch) for batch in batches] == [10] * 9 + [5]
    # Each expires before the next sweep, which queues whatever is still due.
    assert all(task.headers["expires"] for task in queued)


def test_a_batch_refreshes_each_connection_once_even_when_delivered_twice(smartcar):
    connections = due_connections(3, smartcar)
    ids = [connection.pk for connection in connections]
    before = token_calls()

    tasks.refresh_connections.apply(args=[ids])
    tasks.refresh_connections.apply(args=[ids])

    assert token_calls() == before + 3
    assert all(refreshed(connection) for connection in connections)
    assert take_queued_tasks() == []


def test_a_passing_failure_is_retried_alone_and_the_rest_of_the_batch_goes_on(smartcar, settings):
    first, failing, last = due_connections(3, smartcar)

    with TokenProxy(settings.SMARTCAR_AUTH_ORIGIN, script=[PASS, RATE_LIMITED]) as proxy:
        settings.SMARTCAR_AUTH_ORIGIN = proxy.url
        tasks.refresh_connections.apply(args=[[first.pk, failing.pk, last.pk]])

    assert refreshed(first)
    assert refreshed(last)
    stored = SmartcarConnection.objects.get(pk=failing.pk)
    assert stored.status == SmartcarConnection.Status.ACTIVE
    assert stored.token_version == failing.token_version
    assert stored.last_error
    [retry] = take_queued_tasks()
    assert (retry.name, retry.args) == (tasks.refresh_connection.name, [failing.pk])
    # Backed off as the task's own first retry would be, and counted as one.
    assert retry.headers["retries"] == 1
    assert retry.headers["eta"]


def test_a_rate_limited_refresh_in_a_batch_waits_at_least_retry_after(smartcar, settings):
    [connection] = due_connections(1, smartcar)

    with TokenProxy(settings.SMARTCAR_AUTH_ORIGIN, script=[RATE_LIMITED]) as proxy:
        settings.SMARTCAR_AUTH_ORIGIN = proxy.url
        asked_at = timezone.now()
        tasks.refresh_connections.apply(args=[[connection.pk]])

    [retry] = take_queued_tasks()
    eta = timezone.datetime.fromisoformat(retry.headers["eta"])
    assert eta - asked_at >= timedelta(seconds=120)


def test_a_dead_grant_in_a_batch_needs_reconnecting_and_is_not_retried(smartcar):
    dead, alive = due_connections(2, smartcar)
    # A refresh token Smartcar does not know: it answers invalid_grant.
    dead.refresh_token = "11111111-2222-3333-4444-555555555555"
    dead.save()

    tasks.refresh_connections.apply(args=[[dead.pk, alive.pk]])

    assert SmartcarConnection.objects.get(pk=dead.pk).status == SmartcarConnection.Status.NEEDS_REAUTH
    assert refreshed(alive)
    # Nothing retried; the owner of the dead grant is emailed, once.
    assert [(task.name, task.args) for task in take_queued_tasks()] == [(tasks.notify_reauth.name, [dead.pk])]


def test_a_lost_answer_in_a_batch_is_recovered_inside_the_grace(smartcar, settings):
    lost, other = due_connections(2, smartcar)
    settings.SMARTCAR_HTTP_TIMEOUT = 0.5

    with TokenProxy(settings.SMARTCAR_AUTH_ORIGIN, script=[LOSE_ANSWER]) as proxy:
        settings.SMARTCAR_AUTH_ORIGIN = proxy.url
        tasks.refresh_connections.apply(args=[[lost.pk, other.pk]])

    assert refreshed(lost)
    assert refreshed(other)
    assert take_queued_tasks() == []


def test_a_batch_past_its_time_budget_hands_the_rest_to_a_new_task(smartcar, monkeypatch):
    connections = due_connections(3, smartcar)
    monkeypatch.setattr(tasks, "BATCH_TIME_BUDGET_SECONDS", 0)

    tasks.refresh_connections.apply(args=[[connection.pk for connection in connections]])

    assert refreshed(connections[0])
    assert not refreshed(connections[1])
    [rest] = take_queued_tasks()
    assert (rest.name, rest.args) == (tasks.refresh_connections.name, [[c.pk for c in connections[1:]]])
    assert rest.headers["expires"]


def test_a_database_failure_requeues_the_connection_and_the_rest(smartcar, monkeypatch):
    connections = due_connections(3, smartcar)
    ids = [connection.pk for connection in connections]
    real = tokens.refresh_due_connection

    def failing_on_the_second(*, connection_id: int, if_version: int | None = None):
        if connection_id == ids[1]:
            raise DatabaseError("the server closed the connection unexpectedly")
        return real(connection_id=connection_id, if_version=if_version)

    monkeypatch.setattr(tokens, "refresh_due_connection", failing_on_the_second)
    tasks.refresh_connections.apply(args=[ids])

    assert refreshed(connections[0])
    [rest] = take_queued_tasks()
    assert (rest.name, rest.args) == (tasks.refresh_connections.name, [ids[1:]])
    assert rest.headers["eta"]


def test_a_batch_size_under_one_fails_the_system_check(settings):
    settings.TOKEN_REFRESH_BATCH_SIZE = 0
    assert "vehicles.E008" in {error.id for error in run_checks()}
    settings.TOKEN_REFRESH_BATCH_SIZE = 1
    assert "vehicles.E008" not in {error.id for error in run_checks()}


def test_an_unforeseen_failure_of_one_connection_does_not_stop_the_batch(smartcar, monkeypatch):
    connections = due_connections(3, smartcar)
    ids = [connection.pk for connection in connections]
    real = tokens.refresh_due_connection

    def surprising_on_the_first(*, connection_id: int, if_version: int | None = None):
        if connection_id == ids[0]:
            raise KeyError("an answer nobody foresaw")
        return real(connection_id=connection_id, if_version=if_version)

    monkeypatch.setattr(tokens, "refresh_due_connection", surprising_on_the_first)
    tasks.refresh_connections.apply(args=[ids])

    assert refreshed(connections[1])
    assert refreshed(connections[2])
