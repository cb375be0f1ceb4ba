"""The refresh across the real parts: beat's task through Redis to a worker, PostgreSQL and the emulator; and
what still works while Redis is down."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError

from config.celery import app as celery_app
from tests.vehicles.test_refresh import make_due, works_at_smartcar
from tests.vehicles.token_proxy import HANG, TokenProxy
from vehicles import tasks
from vehicles.models import SmartcarConnection
from vehicles.services import tokens

pytestmark = pytest.mark.django_db(transaction=True)


def wait_for(condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_beat_task_through_redis_and_a_worker_refreshes_a_due_connection(alice_connection, settings):
    due = make_due(alice_connection)
    celery_app.control.purge()
    entry = settings.CELERY_BEAT_SCHEDULE["refresh-due-connections"]

    with start_worker(celery_app, pool="solo", perform_ping_check=False, loglevel="WARNING"):
        # What beat does at each tick: publish the scheduled task by name.
        celery_app.send_task(entry["task"])
        refreshed = wait_for(lambda: SmartcarConnection.objects.get(pk=due.pk).token_version == 2)

    assert refreshed
    stored = SmartcarConnection.objects.get(pk=due.pk)
    assert stored.status == SmartcarConnection.Status.ACTIVE
    assert stored.access_expires_at > timezone.now() + timedelta(hours=1)
    assert works_at_smartcar(stored.access_token)


def test_with_redis_down_pages_sign_in_and_the_request_path_refresh_still_work(
    client, alice, password, alice_connection, monkeypatch, unused_port
):
    dead_broker = f"redis://127.0.0.1:{unused_port}/0"
    monkeypatch.setenv("CELERY_BROKER_URL", dead_broker)
    due = make_due(alice_connection)

    signed_in = client.post(reverse("accounts:login"), {"username": alice.email, "password": password})
    assert signed_in.status_code == 302
    assert client.get(reverse("vehicles:list")).status_code == 200
    assert works_at_smartcar(tokens.get_access_token(connection=due))
    health = client.get(reverse("healthz"))
    assert health.status_code == 503
    assert health.json()["checks"]["broker"]["ok"] is False

    # Publishing gives up after the short retry policy instead of hanging the request.
    with celery_app.connection_for_write(dead_broker) as connection, pytest.raises(OperationalError):
        tasks.refresh_connection.apply_async(args=[due.pk], connection=connection)


def test_a_token_endpoint_that_never_answers_hangs_no_worker_thread(alice_connection, settings, monkeypatch):
    # The threads pool enforces no task time limit: every call's own timeout and the recovery window must end it.
    due = make_due(alice_connection)
    settings.SMARTCAR_HTTP_TIMEOUT = 0.5
    monkeypatch.setattr(tokens, "RECOVERY_WINDOW", timedelta(seconds=2))
    celery_app.control.purge()

    with (
        TokenProxy(settings.SMARTCAR_AUTH_ORIGIN, default=HANG) as proxy,
        start_worker(celery_app, pool="threads", concurrency=4, perform_ping_check=False, loglevel="WARNING"),
    ):
        settings.SMARTCAR_AUTH_ORIGIN = proxy.url
        started = time.monotonic()
        tasks.refresh_connection.delay(due.pk)
        finished = wait_for(
            lambda: (
                SmartcarConnection.objects.filter(pk=due.pk, refresh_started_at=None).exclude(last_error="").exists()
            ),
            timeout=30,
        )
        elapsed = time.monotonic() - started

    assert finished
    # Tries until the window's end, the last one waiting twice the timeout: seconds, not for ever.
    assert elapsed < 15
    assert len(proxy.calls) >= 2
    stored = SmartcarConnection.objects.get(pk=due.pk)
    assert stored.status == SmartcarConnection.Status.ACTIVE
    assert stored.token_version == due.token_version
