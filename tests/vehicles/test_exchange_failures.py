from __future__ import annotations

import pytest
from django.urls import reverse

from tests.helpers import query_of, take_queued_tasks
from tests.vehicles.conftest import said, walk_to_callback
from tests.vehicles.token_proxy import HANG, HTML_502, TokenProxy
from vehicles import tasks
from vehicles.models import SmartcarConnection

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("failure", [HTML_502, HANG])
def test_a_failed_code_exchange_stores_nothing_and_is_not_retried(alice_client, smartcar, settings, failure):
    location = alice_client.get("/login")["Location"]
    callback = query_of(walk_to_callback(alice_client, location, username="driver@example.com"))
    settings.SMARTCAR_HTTP_TIMEOUT = 1.0

    with TokenProxy(settings.SMARTCAR_AUTH_ORIGIN, [failure]) as proxy:
        settings.SMARTCAR_AUTH_ORIGIN = proxy.url
        response = alice_client.get("/exchange", callback)

    assert response.url == reverse("vehicles:list")
    assert said(response, "Your car could not be connected")
    assert not SmartcarConnection.objects.exists()
    assert proxy.calls == [failure]
    assert "502 Bad Gateway" not in alice_client.get(response.url).content.decode()


def test_a_connect_whose_vehicle_listing_fails_keeps_the_grant_and_lists_the_cars_later(
    alice_client, alice, smartcar, control
):
    # The code is exchanged (the grant is live at Smartcar), then listing the cars fails.
    control("POST", "faults", json={"path": "vehicles", "error_type": "SERVER", "error_code": "INTERNAL", "times": 1})
    take_queued_tasks()
    location = alice_client.get("/login")["Location"]
    callback = query_of(walk_to_callback(alice_client, location, username="driver@example.com"))

    response = alice_client.get("/exchange", callback)

    assert response.url == reverse("vehicles:list")
    assert said(response, "Smartcar did not list its cars yet")
    connection = SmartcarConnection.objects.get(owner=alice)
    assert connection.status == SmartcarConnection.Status.ACTIVE
    assert not connection.vehicles.exists()
    [listing] = take_queued_tasks()
    assert (listing.name, listing.args) == (tasks.list_connection_vehicles.name, [connection.pk])

    tasks.list_connection_vehicles.apply(args=listing.args)

    assert connection.vehicles.count() == 3


def user_reads(control) -> list[int]:
    """The status of every read of the Smartcar user the emulator logged, oldest first."""
    logged = control("GET", "requests", params={"limit": 50}).json()["requests"]
    return [entry["status_code"] for entry in reversed(logged) if entry["path"].endswith("/user")]


def test_a_passing_failure_to_read_whose_grant_it_is_is_retried_and_the_car_connected(
    alice_client, alice, smartcar, control
):
    # The code is exchanged (the grant is live at Smartcar), then Smartcar fails the read of its user twice.
    control("POST", "faults", json={"path": "user", "error_type": "SERVER", "error_code": "INTERNAL", "times": 2})
    location = alice_client.get("/login")["Location"]
    callback = query_of(walk_to_callback(alice_client, location, username="driver@example.com"))

    response = alice_client.get("/exchange", callback)

    assert response.url == reverse("vehicles:list")
    assert not said(response, "could not be connected")
    connection = SmartcarConnection.objects.get(owner=alice)
    assert connection.status == SmartcarConnection.Status.ACTIVE
    assert connection.vehicles.count() == 3
    assert user_reads(control) == [500, 500, 200]


def test_a_lasting_failure_to_read_whose_grant_it_is_says_so_and_stores_nothing(alice_client, smartcar, control):
    control("POST", "faults", json={"path": "user", "error_type": "SERVER", "error_code": "INTERNAL", "times": 10})
    location = alice_client.get("/login")["Location"]
    callback = query_of(walk_to_callback(alice_client, location, username="driver@example.com"))

    response = alice_client.get("/exchange", callback)

    assert response.url == reverse("vehicles:list")
    assert said(response, "Your car could not be connected")
    assert not SmartcarConnection.objects.exists()
    # Tried four times (after 0.5, 1 and 2 s), never a server error.
    assert user_reads(control) == [500] * 4
    assert alice_client.get(response.url).status_code == 200


@pytest.mark.parametrize("next_path", ["/vehicles/" + "a" * 600, "/vehicles/\x00", "/vehicles/%00"])
def test_a_return_address_that_cannot_be_kept_is_dropped_not_a_server_error(alice_client, smartcar, next_path):
    response = alice_client.get("/login", {"next": next_path})

    assert response.status_code == 302
    assert response["Location"].startswith(smartcar)
