from __future__ import annotations

from collections.abc import Callable

import pytest
import smartcar as smartcar_sdk
from django.urls import reverse
from smartcar.exception import SmartcarException

from accounts.models import User
from tests.vehicles.conftest import said
from vehicles.models import SmartcarConnection, Vehicle

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def reaches_vehicle(smartcar, monkeypatch) -> Callable[[str, str], bool]:
    """reaches_vehicle(token, id): asks the emulator, through the SDK, whether the token still reaches the car."""
    monkeypatch.setattr(smartcar_sdk.config, "API_ORIGIN", f"{smartcar}/api")

    def reaches(access_token: str, vehicle_id: str) -> bool:
        try:
            smartcar_sdk.Vehicle(vehicle_id, access_token).attributes()
        except SmartcarException as exc:
            status = exc.status_code
        else:
            return True
        assert status == 401
        return False

    return reaches


def test_disconnect_asks_for_confirmation_first(alice_client, alice_connection):
    vehicle = alice_connection.vehicles.first()

    page = alice_client.get(reverse("vehicles:disconnect", args=[vehicle.pk]))

    assert page.status_code == 200
    assert f"Disconnect {vehicle}?" in page.content.decode()
    assert Vehicle.objects.filter(pk=vehicle.pk).exists()


def test_disconnect_revokes_at_smartcar_then_removes_the_car(alice_client, alice_connection, reaches_vehicle):
    vehicles = list(alice_connection.vehicles.all())
    token = alice_connection.access_token
    target, others = vehicles[0], vehicles[1:]

    response = alice_client.post(reverse("vehicles:disconnect", args=[target.pk]))

    assert response.url == reverse("vehicles:list")
    assert said(response, f"{target} was disconnected")
    assert not Vehicle.objects.filter(pk=target.pk).exists()
    assert not reaches_vehicle(token, target.smartcar_vehicle_id)
    for other in others:
        assert reaches_vehicle(token, other.smartcar_vehicle_id)
    assert SmartcarConnection.objects.filter(pk=alice_connection.pk).exists() == bool(others)


def test_disconnecting_the_last_car_removes_the_tokens(alice_client, alice_connection):
    for vehicle in alice_connection.vehicles.all():
        alice_client.post(reverse("vehicles:disconnect", args=[vehicle.pk]))

    assert not SmartcarConnection.objects.filter(pk=alice_connection.pk).exists()
    assert not Vehicle.objects.filter(connection_id=alice_connection.pk).exists()


def test_a_smartcar_failure_leaves_everything_in_place_and_says_so(
    alice_client, alice_connection, settings, unused_port
):
    settings.SMARTCAR_API_ORIGIN = f"http://127.0.0.1:{unused_port}"
    vehicle = alice_connection.vehicles.first()

    response = alice_client.post(reverse("vehicles:disconnect", args=[vehicle.pk]))

    assert response.url == reverse("vehicles:detail", args=[vehicle.pk])
    assert said(response, f"{vehicle} is still connected")
    assert Vehicle.objects.filter(pk=vehicle.pk).exists()
    assert SmartcarConnection.objects.get(pk=alice_connection.pk).access_token == alice_connection.access_token


def test_account_deletion_disconnects_every_car_first(alice_client, alice, alice_connection, password, reaches_vehicle):
    token = alice_connection.access_token
    vehicle_ids = list(alice_connection.vehicles.values_list("smartcar_vehicle_id", flat=True))

    response = alice_client.post(reverse("accounts:delete"), {"password": password})

    assert response.url == reverse("home")
    assert not User.objects.filter(pk=alice.pk).exists()
    assert not SmartcarConnection.objects.exists()
    assert not any(reaches_vehicle(token, vehicle_id) for vehicle_id in vehicle_ids)


def test_account_deletion_is_refused_while_a_car_cannot_be_disconnected(
    alice_client, alice, alice_connection, password, settings, unused_port
):
    settings.SMARTCAR_API_ORIGIN = f"http://127.0.0.1:{unused_port}"

    response = alice_client.post(reverse("accounts:delete"), {"password": password})

    assert response.url == reverse("accounts:delete")
    assert said(response, "Your account was not deleted")
    assert User.objects.filter(pk=alice.pk).exists()
    assert SmartcarConnection.objects.filter(pk=alice_connection.pk).exists()
