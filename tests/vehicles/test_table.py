"""The garage overview (/vehicles/ and the home page): each car by its name, with what its powertrain and its grant
allow (level, range, locks, charging, a map), when it last reported; escaped; one query whatever the number of cars;
only the signed-in person's cars."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client

from smartcar_emulator.models import EmulatedVehicle
from tests.factories import SmartcarConnectionFactory, VehicleFactory
from tests.helpers import ALL_SCOPES
from tests.vehicles.conftest import fetched
from vehicles.models import SmartcarConnection, Vehicle

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
Status = SmartcarConnection.Status


def page(client: Client, url: str = "/vehicles/") -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def cards(html: str) -> dict[str, str]:
    """Each car's card on the overview, by its name."""
    found = re.findall(r'<li class="car[^"]*" id="car-\d+".*?</li>\s*(?=<li class="car|</ul>)', html, flags=re.DOTALL)
    return {re.search(r'<h2 class="car-name"><a href="[^"]+">([^<]+)</a>', card)[1]: card for card in found}


def facts(card: str) -> dict[str, str]:
    """A card's facts, label to text (tags and whitespace removed)."""
    pairs = re.findall(r"<dt>(.*?)</dt>\s*<dd>(.*?)</dd>", card, flags=re.DOTALL)
    return {label: " ".join(re.sub(r"<[^>]+>", " ", value).split()) for label, value in pairs}


@pytest.fixture
def fleet(alice_client, alice, connect_car, settings) -> list[Vehicle]:
    """big_fleet's twelve cars (every model the emulator has), connected with every permission and fetched."""
    settings.SMARTCAR_SCOPES = ALL_SCOPES
    connect_car(alice_client, username="big_fleet@example.com")
    return [fetched(vehicle) for vehicle in Vehicle.objects.filter(owner=alice)]


def at_emulator(vehicle: Vehicle) -> EmulatedVehicle:
    return EmulatedVehicle.objects.get(vehicle_id=vehicle.smartcar_vehicle_id)


@pytest.mark.django_db(transaction=True)
def test_each_car_shows_what_its_powertrain_has(alice_client, fleet):
    shown = cards(page(alice_client))

    assert len(shown) == 12
    for vehicle in fleet:
        car = at_emulator(vehicle)
        card = facts(shown[str(vehicle)])
        assert str(vehicle) == f"{vehicle.year} {vehicle.make} {vehicle.model} · {car.vin[-4:]}"
        electric, tank = car.state_of_charge is not None, car.fuel_level is not None
        assert ("Battery" in card) == electric
        assert ("Fuel" in card) == tank
        assert ("Charging" in card) == electric
        if electric:
            assert card["Battery"] == f"{car.state_of_charge * 100:.0f} %"
        if tank:
            assert card["Fuel"] == f"{car.fuel_level * 100:.0f} %"
        # A plug-in hybrid has two ranges, named apart; the others one.
        ranges = {label: value for label, value in card.items() if "range" in label.lower()}
        assert set(ranges) == ({"Electric range", "Fuel range"} if electric and tank else {"Range"})
        assert card["Doors"] == ("Locked" if car.is_locked else "Unlocked")
        assert card["Location"] == "Map"
        latitude, longitude = map(
            float, re.search(r"\?mlat=(-?[\d.]+)&amp;mlon=(-?[\d.]+)", shown[str(vehicle)]).groups()
        )
        # Where it was when it reported (a moving car has gone a little further since).
        assert (latitude, longitude) == pytest.approx((car.latitude, car.longitude), abs=0.01)
        assert card["Reported"] == "just now"


@pytest.mark.django_db(transaction=True)
def test_a_car_shows_only_what_the_grant_allows(alice_client, alice, connect_car, settings):
    settings.SMARTCAR_SCOPES = ["read_vehicle_info", "read_vin", "read_battery", "read_security"]
    connect_car(alice_client)
    bolt = fetched(Vehicle.objects.get(owner=alice, make="CHEVROLET"))

    card = facts(cards(page(alice_client))[str(bolt)])

    assert sorted(card) == ["Battery", "Doors", "Range", "Reported"]


@pytest.mark.django_db(transaction=True)
def test_the_last_report_reads_how_long_ago_with_the_moment_in_the_tooltip(alice_client, fleet):
    vehicle = fleet[0]
    reported = datetime.fromisoformat(
        re.search(r'<time datetime="([^"]+)"', cards(page(alice_client))[str(vehicle)])[1]
    )

    with time_machine.travel(reported + timedelta(hours=5, minutes=7), tick=False):
        card = cards(page(alice_client))[str(vehicle)]

    # The car's own time of its newest report, not the time it was fetched.
    assert reported < Vehicle.objects.get(pk=vehicle.pk).data_fetched_at
    title = f"{reported.day} {reported:%B %Y, %H:%M} UTC"
    assert f'<time datetime="{reported.isoformat()}" title="{title}">5\xa0hours, 7\xa0minutes ago</time>' in card


@pytest.mark.django_db(transaction=True)
def test_a_newly_connected_car_says_it_is_being_asked_and_the_page_watches_for_its_data(alice_client, connect_car):
    connect_car(alice_client)

    html = page(alice_client)

    assert html.count("Asking your car&hellip;") == 3
    assert 'data-live-url="/vehicles/live"' in html
    assert '<script src="/static/js/live.js" defer></script>' in html
    assert 'aria-live="polite"' in html
    assert "http-equiv" not in html


def test_a_car_nobody_asked_for_its_data_has_no_script_and_says_so(alice_client, alice):
    VehicleFactory(connection__owner=alice, data_fetched_at=None)

    html = page(alice_client)

    assert "Nothing reported yet." in html
    assert "live.js" not in html
    assert "data-live-url" not in html


def test_the_owners_name_replaces_the_default(alice_client, alice):
    VehicleFactory(connection__owner=alice, make="TESLA", model="Model 3", year=2022, name="Blue one", vin="")
    VehicleFactory(connection__owner=alice, make="TESLA", model="Model 3", year=2022, vin="5YJ3E1EA7KF317000")

    assert sorted(cards(page(alice_client))) == ["2022 TESLA Model 3 · 7000", "Blue one"]


def test_names_make_and_model_are_escaped(alice_client, alice):
    VehicleFactory(connection__owner=alice, make='<script>alert("make")</script>', model="Q&A <b>'7'</b>")
    VehicleFactory(connection__owner=alice, name="<i>mine</i>")

    html = page(alice_client)

    assert "<script>alert" not in html
    assert "<b>" not in html
    assert "<i>mine" not in html
    assert "&lt;script&gt;alert(&quot;make&quot;)&lt;/script&gt;" in html
    assert "Q&amp;A &lt;b&gt;&#x27;7&#x27;&lt;/b&gt;" in html
    assert "&lt;i&gt;mine&lt;/i&gt;" in html


def test_cars_needing_reconnecting_get_a_banner_with_a_link_per_car(alice_client, alice):
    dead = SmartcarConnectionFactory(owner=alice, status=Status.NEEDS_REAUTH)
    vehicle = VehicleFactory(connection=dead, make="CHEVROLET", model="Bolt EV", year=2022)
    VehicleFactory(connection__owner=alice, make="TESLA")

    html = page(alice_client)

    link = f"/login?make=CHEVROLET&amp;next=%2Fvehicles%2F{vehicle.pk}%2F"
    assert "A car needs reconnecting" in html
    assert f'<a class="button" href="{link}">Reconnect 2022 CHEVROLET Bolt EV</a>' in html
    assert '<span class="badge badge-warn">Needs reconnecting</span>' in cards(html)["2022 CHEVROLET Bolt EV"]
    assert html.count('class="badge') == 1  # a healthy car carries no badge on the overview


def test_the_home_page_shows_the_same_garage(alice_client, alice):
    VehicleFactory.create_batch(2, connection__owner=alice)

    assert cards(page(alice_client, "/")) == cards(page(alice_client))


def test_cars_come_in_make_model_year_order(alice_client, alice):
    for make, model, year in [("TESLA", "Model Y", 2022), ("BMW", "i3", 2021), ("TESLA", "Model 3", 2023)]:
        VehicleFactory(connection__owner=alice, make=make, model=model, year=year, vin="")

    assert list(cards(page(alice_client))) == ["2021 BMW i3", "2023 TESLA Model 3", "2022 TESLA Model Y"]


@pytest.mark.parametrize("url", ["/vehicles/", "/", "/vehicles/live"])
@pytest.mark.parametrize("count", [1, 50])
def test_one_query_for_the_cars_whatever_their_number(client, bob, django_assert_num_queries, url, count):
    VehicleFactory.create_batch(count, connection=SmartcarConnectionFactory(owner=bob))
    client.force_login(bob)

    # The session, the signed-in user, and the cars.
    with django_assert_num_queries(3) as queries:
        assert client.get(url).status_code == 200

    (table,) = [query["sql"] for query in queries if "vehicles_vehicle" in query["sql"]]
    # Only the overview's signals are taken out of each snapshot, and no token.
    assert '"vehicles_vehicle"."data",' not in table
    assert "#>" in table
    for unread in ("access_token", "refresh_token"):
        assert unread not in table


def test_nobody_sees_another_persons_cars(alice_client, alice, bob):
    VehicleFactory(connection__owner=alice, make="ALICECAR")
    VehicleFactory(connection__owner=bob, make="BOBCAR", connection__status=Status.NEEDS_REAUTH)
    bob_client = Client()
    bob_client.force_login(bob)

    for url in ("/vehicles/", "/", "/vehicles/live"):
        alices, bobs = page(alice_client, url), page(bob_client, url)
        assert "ALICECAR" in alices
        assert "BOBCAR" not in alices
        assert "Reconnect" not in alices
        assert "BOBCAR" in bobs
        assert "ALICECAR" not in bobs


def test_a_car_needing_reconnecting_says_so_on_its_page_and_offers_no_command(alice_client, alice):
    dead = SmartcarConnectionFactory(owner=alice, status=Status.NEEDS_REAUTH, scopes=ALL_SCOPES)
    vehicle = VehicleFactory(connection=dead, make="CHEVROLET", model="Bolt EV", year=2022, vin="")

    html = page(alice_client, f"/vehicles/{vehicle.pk}/")

    assert "This car needs reconnecting" in html
    link = f"/login?make=CHEVROLET&amp;next=%2Fvehicles%2F{vehicle.pk}%2F"
    assert f'<a class="button" href="{link}">Reconnect 2022 CHEVROLET Bolt EV</a>' in html
    assert "Commands reach the car again once it is reconnected." in html
    assert "/commands/" not in html
