"""The vehicles table (/vehicles/ and the home page): what each row shows, escaped; ages in words; one query whatever
the number of cars; only the signed-in person's cars."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import escape

import pytest
import time_machine
from django.test import Client
from django.test.html import parse_html
from django.urls import reverse
from django.utils import timezone

from tests.factories import SmartcarConnectionFactory, VehicleFactory
from vehicles.models import SmartcarConnection, Vehicle

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
Status = SmartcarConnection.Status
BADGES = {
    Status.ACTIVE: '<span class="badge badge-ok">Connected</span>',
    Status.NEEDS_REAUTH: '<span class="badge badge-warn">Needs reconnecting</span> <a href="/login">Reconnect</a>',
    Status.REVOKED: '<span class="badge badge-muted">Revoked</span>',
}


def table_body(html: str) -> str:
    bodies = re.findall(r"<tbody>.*?</tbody>", html, flags=re.DOTALL)
    assert len(bodies) == 1, html
    return bodies[0]


def expected_row(vehicle: Vehicle, badge: str, when: datetime, words: str) -> str:
    url = reverse("vehicles:detail", args=[vehicle.pk])
    return (
        f'<tr><td data-label="Make"><a href="{url}">{escape(vehicle.make)}</a></td>'
        f'<td data-label="Model">{escape(vehicle.model)}</td><td data-label="Year">{vehicle.year}</td>'
        f'<td data-label="Connection">{badge}</td>'
        f'<td data-label="Last updated"><time datetime="{when.isoformat()}">{words}</time></td></tr>'
    )


def page(client: Client, url: str = "/vehicles/") -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def fleet(alice):
    """Three of alice's cars, one per connection status, fetched three minutes, two days and five weeks ago."""
    cars = []
    for status, fetched in [
        (Status.ACTIVE, NOW - timedelta(minutes=3, seconds=20)),
        (Status.NEEDS_REAUTH, NOW - timedelta(days=2, minutes=5)),
        (Status.REVOKED, NOW - timedelta(weeks=5)),
    ]:
        connection = SmartcarConnectionFactory(owner=alice, status=status)
        cars.append(VehicleFactory(connection=connection, data_fetched_at=fetched))
    return cars


def test_each_row_shows_the_car_its_connection_and_when_it_was_updated(alice_client, fleet):
    with time_machine.travel(NOW, tick=False):
        html = page(alice_client)

    body = parse_html(table_body(html))
    assert len(body.children) == 3
    words = ["3\xa0minutes ago", "2\xa0days ago", "1\xa0month ago"]
    for vehicle, word in zip(fleet, words, strict=True):
        badge = BADGES[vehicle.connection.status]
        assert body.count(parse_html(expected_row(vehicle, badge, vehicle.data_fetched_at, word))) == 1
    # The header row and one row per car, each cell labelled for the phone layout.
    assert html.count("<tr>") == 4
    assert html.count('data-label="Make"') == 3


def test_the_home_page_shows_the_same_table(alice_client, fleet):
    with time_machine.travel(NOW, tick=False):
        assert parse_html(table_body(page(alice_client, "/"))) == parse_html(table_body(page(alice_client)))


def test_rows_come_in_make_model_year_order(alice_client, alice):
    for make, model, year in [("TESLA", "Model Y", 2022), ("BMW", "i3", 2021), ("TESLA", "Model 3", 2023)]:
        VehicleFactory(connection__owner=alice, make=make, model=model, year=year)

    makes_models = re.findall(
        r'<a href="/vehicles/\d+/">(\w+)</a></td>\s*<td data-label="Model">([^<]+)<', page(alice_client)
    )

    assert makes_models == [("BMW", "i3"), ("TESLA", "Model 3"), ("TESLA", "Model Y")]


def test_make_and_model_are_escaped(alice_client, alice):
    VehicleFactory(connection__owner=alice, make='<script>alert("make")</script>', model="Q&A <b>'7'</b>")

    body = table_body(page(alice_client))

    assert "<script>" not in body
    assert "<b>" not in body
    assert "&lt;script&gt;alert(&quot;make&quot;)&lt;/script&gt;" in body
    assert "Q&amp;A &lt;b&gt;&#x27;7&#x27;&lt;/b&gt;" in body


@pytest.mark.parametrize(
    ("ago", "words"),
    [
        (timedelta(seconds=0), "just now"),
        (timedelta(seconds=59), "just now"),
        (timedelta(minutes=1), "1\xa0minute ago"),
        (timedelta(minutes=3, seconds=59), "3\xa0minutes ago"),
        (timedelta(hours=2), "2\xa0hours ago"),
        (timedelta(hours=5, minutes=7), "5\xa0hours, 7\xa0minutes ago"),
        (timedelta(days=2), "2\xa0days ago"),
        (timedelta(days=2, hours=3, minutes=4), "2\xa0days, 3\xa0hours ago"),
        (timedelta(days=15, minutes=9), "2\xa0weeks, 1\xa0day ago"),
        (timedelta(days=400), "1\xa0year, 1\xa0month ago"),
    ],
)
def test_the_last_update_reads_how_long_ago_it_was(alice_client, alice, ago, words):
    vehicle = VehicleFactory(connection__owner=alice, data_fetched_at=NOW - ago)

    with time_machine.travel(NOW, tick=False):
        body = table_body(page(alice_client))

    assert f'<time datetime="{vehicle.data_fetched_at.isoformat()}">{words}</time>' in body


def test_a_car_never_fetched_shows_when_its_row_last_changed(alice_client, alice):
    vehicle = VehicleFactory(connection__owner=alice, data_fetched_at=None)
    changed = NOW - timedelta(hours=3)
    Vehicle.objects.filter(pk=vehicle.pk).update(updated_at=changed)

    with time_machine.travel(NOW, tick=False):
        body = table_body(page(alice_client))

    assert f'<time datetime="{changed.isoformat()}">3\xa0hours ago</time>' in body


def test_times_are_given_in_the_current_time_zone(alice_client, fleet):
    with time_machine.travel(NOW, tick=False), timezone.override("Europe/Paris"):
        body = table_body(page(alice_client))
        paris = timezone.localtime(fleet[0].data_fetched_at).isoformat()

    assert paris.endswith("+01:00")
    assert f'<time datetime="{paris}">3\xa0minutes ago</time>' in body


def test_the_vehicle_page_shows_the_same_badge(alice_client, fleet):
    for vehicle in fleet:
        html = page(alice_client, reverse("vehicles:detail", args=[vehicle.pk]))
        assert parse_html(f"<dd>{BADGES[vehicle.connection.status]}</dd>") in parse_html(html)


@pytest.mark.parametrize("url", ["/vehicles/", "/"])
@pytest.mark.parametrize("cars", [1, 50])
def test_one_query_for_the_table_whatever_the_number_of_cars(client, bob, django_assert_num_queries, url, cars):
    VehicleFactory.create_batch(cars, connection=SmartcarConnectionFactory(owner=bob))
    client.force_login(bob)

    # The session, the signed-in user, and the table.
    with django_assert_num_queries(3) as queries:
        assert page(client, url).count('data-label="Make"') == cars

    (table,) = [query["sql"] for query in queries if "vehicles_vehicle" in query["sql"]]
    for unread in ('"vehicles_vehicle"."data"', "access_token", "refresh_token"):
        assert unread not in table


def test_nobody_sees_another_persons_cars(alice_client, alice, bob):
    VehicleFactory(connection__owner=alice, make="ALICECAR")
    VehicleFactory(connection__owner=bob, make="BOBCAR", connection__status=Status.NEEDS_REAUTH)
    bob_client = Client()
    bob_client.force_login(bob)

    for url in ("/vehicles/", "/"):
        alices, bobs = page(alice_client, url), page(bob_client, url)
        assert "ALICECAR" in alices
        assert "BOBCAR" not in alices
        assert "Reconnect" not in alices
        assert "BOBCAR" in bobs
        assert "ALICECAR" not in bobs
