"""The email about a connection Smartcar no longer accepts: one each time it falls into NEEDS_REAUTH (not one per
sweep), with a link per car that opens Connect at the car's make and comes back to the car."""

from __future__ import annotations

import smtplib
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from tests.helpers import take_queued_tasks
from tests.vehicles.conftest import walk_to_callback
from vehicles import tasks
from vehicles.models import SmartcarConnection
from vehicles.services import notifications

pytestmark = pytest.mark.django_db(transaction=True)


def kill_the_grant(connection: SmartcarConnection) -> None:
    """Smartcar stops accepting it: the stored refresh token is one it does not know, and the access token is due."""
    connection.refresh_token = "00000000-0000-0000-0000-000000000000"
    connection.access_expires_at = timezone.now()
    connection.save()


def run_refresh(connection: SmartcarConnection) -> list[str]:
    """Refresh as a worker would, then run the notices it queued; the names of the tasks it queued."""
    take_queued_tasks()
    tasks.refresh_connection.apply(args=[connection.pk])
    queued = take_queued_tasks()
    for task in queued:
        if task.name == tasks.notify_reauth.name:
            tasks.notify_reauth.apply(args=task.args)
    return [task.name for task in queued]


def test_a_dead_grant_emails_its_owner_once_with_a_link_per_car(alice_connection, alice, settings):
    settings.SMARTCAR_REDIRECT_URI = "https://garage.example.com/exchange"
    kill_the_grant(alice_connection)

    assert run_refresh(alice_connection) == [tasks.notify_reauth.name]
    assert run_refresh(SmartcarConnection.objects.get(pk=alice_connection.pk)) == []  # a later sweep
    tasks.notify_reauth.apply(args=[alice_connection.pk])  # a duplicate delivery of the task

    [email] = mail.outbox
    assert email.to == [alice.email]
    assert email.subject == "Garage: reconnect your cars"
    assert "Smartcar no longer accepts Garage's connection to your" in email.body
    for vehicle in alice_connection.vehicles.all():
        line = next(line for line in email.body.splitlines() if line.strip().startswith(f"{vehicle}: "))
        url = urlsplit(line.split(": ", 1)[1])
        assert (url.scheme, url.netloc, url.path) == ("https", "garage.example.com", "/login")
        assert parse_qs(url.query) == {"make": [vehicle.make], "next": [f"/vehicles/{vehicle.pk}/"]}
    assert SmartcarConnection.objects.get(pk=alice_connection.pk).reauth_notified_at is not None


def test_the_link_opens_connect_at_the_cars_make_and_comes_back_to_the_car(alice_client, alice_connection, smartcar):
    vehicle = alice_connection.vehicles.order_by("pk").last()
    kill_the_grant(alice_connection)
    run_refresh(alice_connection)
    link = next(line for line in mail.outbox[0].body.splitlines() if line.strip().startswith(f"{vehicle}: "))
    url = urlsplit(link.split(": ", 1)[1])

    connect = alice_client.get(f"{url.path}?{url.query}")

    assert parse_qs(urlsplit(connect.url).query)["make"] == [vehicle.make]
    callback = walk_to_callback(alice_client, connect.url, username="driver@example.com")
    back = alice_client.get(f"/exchange?{urlsplit(callback).query}")
    assert back.url == f"/vehicles/{vehicle.pk}/"
    assert SmartcarConnection.objects.get(pk=alice_connection.pk).status == SmartcarConnection.Status.ACTIVE


def test_reconnecting_then_dying_again_sends_another_email(alice_client, alice_connection, connect_car):
    kill_the_grant(alice_connection)
    run_refresh(alice_connection)
    connect_car(alice_client, username="driver@example.com")
    restored = SmartcarConnection.objects.get(pk=alice_connection.pk)
    assert (restored.status, restored.reauth_notified_at) == (SmartcarConnection.Status.ACTIVE, None)

    kill_the_grant(restored)
    run_refresh(restored)

    assert len(mail.outbox) == 2


def test_a_transaction_that_rolls_back_queues_no_email(alice_connection):
    def queue_then_roll_back() -> None:
        with transaction.atomic():
            notifications.queue_reauth_notice(connection_id=alice_connection.pk)
            raise RuntimeError("rolled back")

    take_queued_tasks()
    with pytest.raises(RuntimeError):
        queue_then_roll_back()

    assert take_queued_tasks() == []


def test_a_connection_that_no_longer_needs_reconnecting_gets_no_email(alice_connection):
    assert notifications.send_reauth_notice(connection_id=alice_connection.pk) is False
    assert mail.outbox == []


def test_a_mail_server_that_fails_is_retried_and_nothing_is_recorded(alice_connection, monkeypatch):
    SmartcarConnection.objects.filter(pk=alice_connection.pk).update(status=SmartcarConnection.Status.NEEDS_REAUTH)

    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise smtplib.SMTPServerDisconnected("gone")

    monkeypatch.setattr(notifications, "send_mail", refuse)
    # Run in this process, the task's retries follow one another at once, until it gives up.
    tasks.notify_reauth.apply(args=[alice_connection.pk])

    assert len(attempts) == tasks.notify_reauth.max_retries + 1
    assert SmartcarConnection.objects.get(pk=alice_connection.pk).reauth_notified_at is None
    monkeypatch.undo()
    tasks.notify_reauth.apply(args=[alice_connection.pk])
    assert len(mail.outbox) == 1
