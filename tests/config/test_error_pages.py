"""Error pages in the site's layout, named after the site: 404, 403 and 400 from Django's own views, and a 500 that
asks nothing of the request, the session or the database."""

from __future__ import annotations

import pytest
from django.contrib.staticfiles import finders
from django.test import Client, RequestFactory
from django.urls import reverse

from config.urls import server_error

pytestmark = pytest.mark.django_db


def test_a_page_that_does_not_exist_is_a_404_in_the_sites_layout(alice_client):
    response = alice_client.get("/no/such/page/")

    html = response.content.decode()
    assert response.status_code == 404
    assert "<title>Page not found &middot; Garage</title>" in html
    assert '<a class="skip-link" href="#main">Skip to the content</a>' in html
    assert "There is no such page" in html
    assert "alice@example.com" in html  # the navigation of a signed-in person


def test_another_persons_vehicle_is_the_same_404(alice_client, bob):
    from tests.factories import VehicleFactory

    vehicle = VehicleFactory(connection__owner=bob)

    assert "There is no such page" in alice_client.get(reverse("vehicles:detail", args=[vehicle.pk])).content.decode()


def test_a_refused_page_is_a_403_in_the_sites_layout(alice):
    staff = Client()
    alice.is_staff = True
    alice.save()
    staff.force_login(alice)

    # The admin refuses an action a person without the permission posts anyway.
    response = staff.post(reverse("admin:vehicles_smartcarconnection_changelist"), {"action": "disconnect_connections"})

    assert response.status_code == 403
    assert "You cannot do that" in response.content.decode()


def test_an_expired_form_is_a_403_in_the_sites_layout_that_says_so(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)

    response = client.post(reverse("accounts:profile"), {"first_name": "x"})

    html = response.content.decode()
    assert response.status_code == 403
    assert "<title>This form has expired &middot; Garage</title>" in html
    assert "alice@example.com" in html


def test_the_500_page_needs_nothing_but_the_sites_name(django_assert_num_queries):
    request = RequestFactory().get("/")

    with django_assert_num_queries(0):
        response = server_error(request)

    html = response.content.decode()
    assert response.status_code == 500
    assert "<title>Something went wrong &middot; Garage</title>" in html
    assert "Something went wrong on our side" in html
    assert "Sign in" not in html  # no navigation that would need the session
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in html


def test_every_page_has_the_sites_icon(client):
    assert '<link rel="icon" href="/static/favicon.svg"' in client.get("/").content.decode()
    assert finders.find("favicon.svg")
