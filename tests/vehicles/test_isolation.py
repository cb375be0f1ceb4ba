from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from smartcar_emulator.models import RequestLog
from vehicles.models import Vehicle

pytestmark = pytest.mark.django_db(transaction=True)


def object_urls(vehicle: Vehicle) -> list[tuple[str, str]]:
    return [
        ("get", reverse("vehicles:detail", args=[vehicle.pk])),
        ("get", reverse("vehicles:disconnect", args=[vehicle.pk])),
        ("post", reverse("vehicles:disconnect", args=[vehicle.pk])),
    ]


def test_another_user_gets_404_on_every_object_url_and_nothing_happens(alice_connection, bob):
    vehicle = alice_connection.vehicles.first()
    bob_client = Client()
    bob_client.force_login(bob)
    calls_before = RequestLog.objects.count()

    for method, url in object_urls(vehicle):
        assert getattr(bob_client, method)(url).status_code == 404, url

    assert RequestLog.objects.count() == calls_before
    assert Vehicle.objects.filter(pk=vehicle.pk).exists()
    assert alice_connection.vehicles.first().make not in bob_client.get(reverse("vehicles:list")).content.decode()


def test_anonymous_visitor_is_sent_to_sign_in_on_every_object_url(alice_connection):
    vehicle = alice_connection.vehicles.first()
    anonymous = Client()

    for method, url in [*object_urls(vehicle), ("get", reverse("vehicles:list"))]:
        response = getattr(anonymous, method)(url)
        assert response.status_code == 302, url
        assert response.url.startswith(reverse("accounts:login"))

    assert Vehicle.objects.filter(pk=vehicle.pk).exists()


def test_an_unknown_vehicle_is_404(alice_client):
    assert alice_client.get(reverse("vehicles:detail", args=[999999])).status_code == 404
