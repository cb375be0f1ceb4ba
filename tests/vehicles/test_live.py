"""The pages that wait for a car's data: the small JSON endpoints their script polls, which say what is still being
asked and hand over the parts that landed, rendered as the page renders them; never a page that reloads itself."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import VehicleFactory
from tests.helpers import ALL_SCOPES, take_queued_tasks
from tests.vehicles.conftest import fetched
from vehicles.models import Vehicle

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def cars(alice_client, alice, connect_car, settings) -> list[Vehicle]:
    """alice's three cars, just connected: a fetch of each is queued and none has landed."""
    settings.SMARTCAR_SCOPES = ALL_SCOPES
    connect_car(alice_client)
    take_queued_tasks()
    return list(Vehicle.objects.filter(owner=alice).order_by("pk"))


def test_the_garage_endpoint_says_which_cars_are_still_being_asked_and_hands_over_the_others(alice_client, cars):
    fetched(cars[0])

    answer = alice_client.get(reverse("vehicles:live"))

    assert answer["Content-Type"] == "application/json"
    assert "no-cache" in answer["Cache-Control"]
    parts = answer.json()["parts"]
    assert {name: part["pending"] for name, part in parts.items()} == {
        f"car-{cars[0].pk}": False,
        f"car-{cars[1].pk}": True,
        f"car-{cars[2].pk}": True,
    }
    landed = parts[f"car-{cars[0].pk}"]["html"]
    assert "<dt>Battery</dt>" in landed
    assert "Asking your car" not in landed
    assert answer.json()["message"] == "Asking 2 cars for their data…"
    # The same part the page itself shows once the car has reported.
    page = alice_client.get(reverse("vehicles:list")).content.decode()
    assert landed.strip() in page


def test_the_garage_endpoint_says_when_every_car_has_reported(alice_client, cars):
    for vehicle in cars:
        fetched(vehicle)

    assert alice_client.get(reverse("vehicles:live")).json()["message"] == "Every car has reported."
    assert "live.js" not in alice_client.get(reverse("vehicles:list")).content.decode()


def test_the_vehicle_endpoint_hands_over_the_data_part_once_the_fetch_landed(alice_client, cars):
    vehicle = cars[0]
    url = reverse("vehicles:detail-live", args=[vehicle.pk])
    page = alice_client.get(reverse("vehicles:detail", args=[vehicle.pk])).content.decode()
    assert f'data-live-url="{url}" data-pending' in page
    assert "Updating…" in page or "Updating&hellip;" in page

    waiting = alice_client.get(url).json()
    fetched(vehicle)
    landed = alice_client.get(url).json()

    assert waiting["parts"]["vehicle-live"]["pending"] is True
    assert waiting["message"] == "Asking your car…"
    assert landed["parts"]["vehicle-live"]["pending"] is False
    assert landed["message"] == "Your car's latest data is shown."
    html = landed["parts"]["vehicle-live"]["html"]
    assert "Refresh data" in html
    assert "<dt>Battery</dt>" in html
    assert "The last 30 days" in html


def test_the_endpoints_are_the_owners_only(cars, bob):
    bob_client = Client()
    bob_client.force_login(bob)

    assert bob_client.get(reverse("vehicles:detail-live", args=[cars[0].pk])).status_code == 404
    assert bob_client.get(reverse("vehicles:live")).json() == {"parts": {}, "message": "Every car has reported."}
    anonymous = Client().get(reverse("vehicles:live"))
    assert anonymous.status_code == 302
    assert anonymous.url.startswith(reverse("accounts:login"))


@pytest.mark.django_db
def test_no_page_reloads_itself(alice_client, alice):
    vehicle = VehicleFactory(connection__owner=alice)
    Vehicle.objects.filter(pk=vehicle.pk).update(sync_requested_at=vehicle.created_at)

    for url in ("/", reverse("vehicles:list"), reverse("vehicles:detail", args=[vehicle.pk])):
        html = alice_client.get(url).content.decode()
        assert "http-equiv" not in html, url
        # Without JavaScript, a link checks again by hand.
        assert "Check again</a>" in html, url
