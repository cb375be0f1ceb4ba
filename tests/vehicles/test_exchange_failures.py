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


@pytest.mark.parametrize("next_path", ["/vehicles/" + "a" * 600, "/vehicles/\x00", "/vehicles/%00"])
def test_a_return_address_that_cannot_be_kept_is_dropped_not_a_server_error(alice_client, smartcar, next_path):
    response = alice_client.get("/login", {"next": next_path})

    assert response.status_code == 302
    assert response["Location"].startswith(smartcar)
