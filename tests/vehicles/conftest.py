"""The product against the emulator over HTTP: settings point at a live server, a browser walks Connect."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from vehicles.models import SmartcarConnection


def local_path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def query_of(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def said(response, text: str) -> bool:
    """Whether any message shown after `response` contains `text`."""
    return any(text in message for message in messages_of(response))


@pytest.fixture
def smartcar(live_server, settings) -> Iterator[str]:
    """Point the application at the emulator in a live server (the same settings a deployment uses)."""
    base = f"{live_server.url}/emulator"
    settings.SMARTCAR_CONNECT_ORIGIN = f"{base}/connect"
    settings.SMARTCAR_AUTH_ORIGIN = f"{base}/auth/oauth/token"
    settings.SMARTCAR_API_ORIGIN = f"{base}/api"
    settings.SMARTCAR_VEHICLE_API_V3_ORIGIN = f"{base}/vehicle-api"
    yield base
    # The live server's request threads close their database connection just after replying: wait for them so
    # the test database is never flushed or dropped under an open session.
    for thread in threading.enumerate():
        if "process_request_thread" in thread.name:
            thread.join(timeout=5)


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
