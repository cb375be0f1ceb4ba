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
