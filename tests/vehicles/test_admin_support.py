"""The admin as support staff use it: the product's name, the emulator's models out of the way outside development,
vehicles by name and VIN, connections named after their owner, and a car's latest data as facts, its location to about
a kilometre unless the staff member may see it precisely."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from tests.factories import VehicleFactory
from tests.helpers import ALL_SCOPES
from tests.vehicles.conftest import fetched
from vehicles.models import Vehicle

pytestmark = pytest.mark.django_db


def test_the_admin_carries_the_sites_name(support_client):
    html = support_client.get(reverse("admin:index")).content.decode()

    assert "<title>People, connections and cars | Garage support</title>" in html
    assert ">Garage support</a>" in html
    assert "Django administration" not in html
    assert '<link rel="icon" href="/static/favicon.svg"' in html


@pytest.mark.parametrize(("debug", "listed"), [(False, False), (True, True)])
def test_the_emulators_models_are_listed_in_development_only(admin_client, settings, debug, listed):
    settings.DEBUG = debug

    html = admin_client.get(reverse("admin:index")).content.decode()

    assert ("Smartcar emulator" in html) == listed
    assert "Smartcar connections" in html
    # Their pages stay where they are, for whoever knows the address.
    assert admin_client.get("/admin/smartcar_emulator/fault/").status_code == 200


def test_vehicles_are_listed_by_name_and_vin_and_connections_by_their_owner(admin_client, alice):
    vehicle = VehicleFactory(connection__owner=alice, name="Blue one", vin="5YJ3E1EA7KF317000")

    vehicles = admin_client.get(reverse("admin:vehicles_vehicle_changelist")).content.decode()
    connections = admin_client.get(reverse("admin:vehicles_smartcarconnection_changelist")).content.decode()

    assert re.search(r'<th class="field-__str__"><a href="[^"]+">Blue one</a></th>', vehicles)
    assert '<td class="field-vin">5YJ3E1EA7KF317000</td>' in vehicles
    assert f"Smartcar account of alice@example.com ({vehicle.connection.smartcar_user_id[:8]})" in connections
    found = admin_client.get(reverse("admin:vehicles_vehicle_changelist"), {"q": "blue"}).context["cl"].result_list
    assert list(found) == [vehicle]


@pytest.fixture
def car(alice_client, alice, connect_car, settings) -> Vehicle:
    settings.SMARTCAR_SCOPES = ALL_SCOPES
    connect_car(alice_client)
    return fetched(Vehicle.objects.get(owner=alice, make="CHEVROLET"))


@pytest.mark.django_db(transaction=True)
def test_support_sees_the_cars_facts_with_its_location_to_about_a_kilometre(support_client, car):
    location = car.data["signals"]["location-preciselocation"]["body"]

    html = support_client.get(reverse("admin:vehicles_vehicle_change", args=[car.pk])).content.decode()

    assert "<h2>What the car reported</h2>" in html
    assert re.search(r'<tr><th scope="row">Battery</th><td>\d+ %</td>', html)
    coarse = f"{location['latitude']:.2f}, {location['longitude']:.2f} (to about a kilometre)"
    assert f'<tr><th scope="row">Location</th><td>{coarse}</td>' in html
    assert f"{location['latitude']:.3f}" not in html
    assert "location-preciselocation" not in html  # no raw snapshot


@pytest.mark.django_db(transaction=True)
def test_only_the_explicit_permission_shows_the_precise_location(support_client, car):
    location = car.data["signals"]["location-preciselocation"]["body"]
    support_client.person.user_permissions.add(Permission.objects.get(codename="view_precise_location"))

    html = support_client.get(reverse("admin:vehicles_vehicle_change", args=[car.pk])).content.decode()

    assert f"<td>{location['latitude']:.5f}, {location['longitude']:.5f}</td>" in html


def test_the_support_group_does_not_hold_the_precise_location(support_group):
    assert support_group.permissions.filter(codename__startswith="view_").exists()
    assert not support_group.permissions.filter(codename="view_precise_location").exists()
