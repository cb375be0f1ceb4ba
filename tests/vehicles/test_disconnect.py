from __future__ import annotations

from collections.abc import Callable

import pytest
import smartcar as smartcar_sdk
from django.test import Client
from django.urls import reverse
from smartcar.exception import SmartcarException

from accounts.models import User
from tests.factories import VehicleFactory
from tests.vehicles.conftest import said
from vehicles.models import SmartcarConnection, Vehicle
from vehicles.services.disconnect import shared_with_another_account

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


# --- A car two accounts share -----------------------------------------------------------------------------------


@pytest.fixture
def bobs_connection(bob, connect_car) -> SmartcarConnection:
    """bob connects the same car maker's account as alice: the same three cars, through a grant of his own."""
    bob_client = Client()
    bob_client.force_login(bob)
    assert connect_car(bob_client, username="driver@example.com").response.status_code == 302
    return SmartcarConnection.objects.get(owner=bob)


def test_a_car_another_account_holds_is_removed_here_only_and_the_person_is_told(
    alice_connection, bobs_connection, bob, reaches_vehicle
):
    bob_client = Client()
    bob_client.force_login(bob)
    bobs_car = bobs_connection.vehicles.first()
    alices_token = alice_connection.access_token

    response = bob_client.post(reverse("vehicles:disconnect", args=[bobs_car.pk]))

    assert said(response, "Another account here still uses this car")
    assert not said(response, "was disconnected and its data removed")
    assert not Vehicle.objects.filter(pk=bobs_car.pk).exists()
    assert reaches_vehicle(alices_token, bobs_car.smartcar_vehicle_id)
    assert alice_connection.vehicles.filter(smartcar_vehicle_id=bobs_car.smartcar_vehicle_id).exists()


def test_a_car_shared_only_with_a_connection_that_needs_reconnecting_is_revoked(
    alice_connection, bobs_connection, bob, reaches_vehicle
):
    SmartcarConnection.objects.filter(pk=alice_connection.pk).update(status=SmartcarConnection.Status.NEEDS_REAUTH)
    bob_client = Client()
    bob_client.force_login(bob)
    bobs_car = bobs_connection.vehicles.first()

    response = bob_client.post(reverse("vehicles:disconnect", args=[bobs_car.pk]))

    assert said(response, f"{bobs_car} was disconnected and its data removed.")
    assert not reaches_vehicle(bobs_connection.access_token, bobs_car.smartcar_vehicle_id)


def test_deleting_an_account_leaves_the_cars_another_account_holds_connected_for_it(
    alice_client, alice_connection, bobs_connection, bob, password, reaches_vehicle
):
    bob_client = Client()
    bob_client.force_login(bob)

    response = bob_client.post(reverse("accounts:delete"), {"password": password})

    assert said(response, "Your account and everything in it were deleted.")
    assert said(response, "3 of your cars are also connected to another account here, so they stay connected")
    assert not User.objects.filter(pk=bob.pk).exists()
    alice_connection.refresh_from_db()
    assert alice_connection.status == SmartcarConnection.Status.ACTIVE
    for vehicle in alice_connection.vehicles.all():
        assert reaches_vehicle(alice_connection.access_token, vehicle.smartcar_vehicle_id)
    page = alice_client.get(reverse("vehicles:list")).content.decode()
    assert "Needs reconnecting" not in page


@pytest.mark.django_db
def test_with_api_authentication_only_the_same_smartcar_user_shares_a_car(alice, bob):
    # There Smartcar removes one Smartcar user's connection to the car, which another Smartcar user's does not share.
    application = SmartcarConnection.Auth.APPLICATION
    alices = VehicleFactory(connection__owner=alice, connection__auth=application, connection__smartcar_user_id="u1")
    same_user = VehicleFactory(
        connection__owner=bob,
        connection__auth=application,
        connection__smartcar_user_id="u1",
        smartcar_vehicle_id=alices.smartcar_vehicle_id,
    )
    other_user = VehicleFactory(
        connection__auth=application, connection__smartcar_user_id="u2", smartcar_vehicle_id=alices.smartcar_vehicle_id
    )

    assert shared_with_another_account(alices)
    assert shared_with_another_account(same_user)
    Vehicle.objects.filter(pk=same_user.pk).delete()
    assert not shared_with_another_account(alices)
    assert not shared_with_another_account(other_user)
