"""With every logger at DEBUG, HTTP libraries included, a whole journey leaves no secret in any log record."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.helpers import query_of
from tests.vehicles.conftest import walk_to_callback
from vehicles import tasks
from vehicles.models import SmartcarConnection, Vehicle
from vehicles.services import tokens

pytestmark = pytest.mark.django_db(transaction=True)


def every_logger_at_debug(caplog) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("urllib3", "requests", "django", "django.request", "django.server", "django.db.backends", "celery"):
        caplog.set_level(logging.DEBUG, logger=name)


def test_a_whole_journey_logs_no_token_code_or_client_secret(alice_client, alice, smartcar, settings, caplog):
    every_logger_at_debug(caplog)
    settings.SMARTCAR_SCOPES = ["read_vehicle_info", "read_odometer", "read_security", "control_security"]
    secrets = {settings.SMARTCAR_CLIENT_SECRET}

    location = alice_client.get("/login")["Location"]
    callback = query_of(walk_to_callback(alice_client, location, username="driver@example.com"))
    secrets.add(callback["code"])
    alice_client.get("/exchange", callback)
    connection = SmartcarConnection.objects.get(owner=alice)
    secrets |= {connection.access_token, connection.refresh_token}

    SmartcarConnection.objects.filter(pk=connection.pk).update(access_expires_at=timezone.now() - timedelta(minutes=1))
    tokens.refresh_if_due(connection_id=connection.pk)
    connection.refresh_from_db()
    secrets |= {connection.access_token, connection.refresh_token}
    vehicle = Vehicle.objects.filter(owner=alice).first()
    tasks.sync_vehicle.apply(args=[vehicle.pk])
    alice_client.post(reverse("vehicles:command", args=[vehicle.pk, "lock"]))

    # DEBUG capture works: urllib3 logged each call to Smartcar, the token calls included.
    http_lines = [record.getMessage() for record in caplog.records if record.name.startswith("urllib3")]
    assert any("/auth/oauth/token" in line for line in http_lines), "the journey should have logged at DEBUG"
    assert len(http_lines) >= 5
    for record in caplog.records:
        text = " ".join(
            [record.getMessage(), repr(record.args), record.exc_text or "", repr(getattr(record, "__dict__", {}))]
        )
        for secret in secrets:
            assert secret not in text, f"{record.name}: {record.getMessage()[:200]}"
    assert settings.SMARTCAR_CLIENT_SECRET in secrets
