"""The product against the emulator over HTTP: settings point at a live server, a browser walks Connect."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.test import Client

from tests.factories import UserFactory
from tests.helpers import ALL_SCOPES, local_path, query_of
from tests.helpers import support_group as make_support_group
from vehicles.models import SmartcarConnection, Vehicle
from vehicles.services import vehicle_data


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def said(response, text: str) -> bool:
    """Whether any message shown after `response` contains `text`."""
    return any(text in message for message in messages_of(response))


@pytest.fixture
def smartcar(emulator) -> str:
    return emulator


@pytest.fixture
def support_group(db) -> Group:
    return make_support_group()


@pytest.fixture
def support_client(support_group) -> Client:
    """A staff member of the support group, signed in to the admin (`client.person`)."""
    person = UserFactory(email="support@example.com", is_staff=True)
    person.groups.add(support_group)
    client = Client()
    client.force_login(person)
    client.person = person
    return client


@dataclass
class ConnectWalk:
    """Where a walk through Connect ended: the redirect back to /exchange, and our answer to it."""

    callback_url: str
    response: object

    @property
    def callback(self) -> dict[str, str]:
        return query_of(self.callback_url)


def walk_to_callback(client: Client, connect_url: str, *, username: str, action: str = "approve") -> str:
    """Click through the emulator's Connect pages from `connect_url`; returns the redirect URI it sends back to."""
    page = client.get(local_path(connect_url))
    assert page.status_code == 200, page.content
    if "makes" in page.context and not page.context.get("make"):
        page = client.post("/emulator/connect/login", {"flow": page.context["flow"], "make": "TESLA"})
    page = client.post(
        "/emulator/connect/login", {"flow": page.context["flow"], "username": username, "password": "pw"}
    )
    if page.status_code == 302:
        return page["Location"]
    if action != "approve":  # "deny", or "back" (to the application)
        page = client.post("/emulator/connect/decide", {"flow": page.context["flow"], "action": action})
        return page["Location"]
    vehicles = [str(car["vehicle"].vehicle_id) for car in page.context["cars"] if car["eligible"]]
    page = client.post(
        "/emulator/connect/decide", {"flow": page.context["flow"], "vehicle": vehicles, "action": action}
    )
    assert page.status_code == 302, page.content
    return page["Location"]


@pytest.fixture
def connect_car(smartcar) -> Callable[..., ConnectWalk]:
    """connect_car(client, username=...) walks /login → Connect → /exchange as a browser would."""

    def walk(client: Client, *, username: str = "driver@example.com", action: str = "approve", start: str = "/login"):
        start_response = client.get(start)
        assert start_response.status_code == 302, start_response
        callback_url = walk_to_callback(client, start_response["Location"], username=username, action=action)
        return ConnectWalk(callback_url=callback_url, response=client.get(local_path(callback_url)))

    return walk


@pytest.fixture
def alice_connection(alice_client, alice, connect_car) -> SmartcarConnection:
    walk = connect_car(alice_client, username="driver@example.com")
    assert walk.response.status_code == 302
    return SmartcarConnection.objects.get(owner=alice)


@pytest.fixture
def connected_vehicle(alice_client, alice, connect_car, settings) -> Vehicle:
    """One of alice's cars, connected through the emulator with every permission; nothing fetched yet."""
    settings.SMARTCAR_SCOPES = ALL_SCOPES
    walk = connect_car(alice_client, username="driver@example.com")
    assert walk.response.status_code == 302
    return Vehicle.objects.filter(owner=alice).first()


def fetched(vehicle: Vehicle) -> Vehicle:
    """`vehicle` with its data fetched once from the emulator through the real client, as a worker fetches it. Vehicle
    data in the suite comes from here, never from a hand-written dict in a shape nobody serves."""
    vehicle = vehicle_data.sync_vehicle_data(vehicle_id=vehicle.pk)
    assert (vehicle.sync_error, bool(vehicle.data_fetched_at)) == ("", True), vehicle.sync_error
    return vehicle


@pytest.fixture
def fetched_vehicle(connected_vehicle) -> Vehicle:
    return fetched(connected_vehicle)
