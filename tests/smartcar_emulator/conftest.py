"""Fixtures that point the unmodified Smartcar SDK at the emulator running in a live server."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import smartcar
import smartcar.config
from django.conf import settings

from tests.helpers import ALL_SCOPES, local_path, query_of

REDIRECT_URI = "http://localhost:8000/exchange"


@pytest.fixture
def emulator_url(emulator) -> str:
    return emulator


@pytest.fixture
def auth_client(emulator_url) -> smartcar.AuthClient:
    return smartcar.AuthClient(
        client_id=settings.SMARTCAR_EMULATOR_CLIENT_ID,
        client_secret=settings.SMARTCAR_EMULATOR_CLIENT_SECRET,
        redirect_uri=REDIRECT_URI,
        mode="test",
    )


@pytest.fixture
def walk_connect(client, auth_client) -> Callable[..., dict[str, str]]:
    """Click through Connect as a browser would, approving every eligible car; returns the redirect's query."""

    def walk(
        username: str = "alice@example.com",
        scopes: list[str] | None = None,
        *,
        options: dict | None = None,
        vehicles: list[str] | None = None,
        action: str = "approve",
    ) -> dict[str, str]:
        url = auth_client.get_auth_url(scopes or ["read_vehicle_info"], {"state": "s-123", **(options or {})})
        page = client.get(local_path(url))
        assert page.status_code == 200, page.content
        flow = page.context["flow"]
        if "makes" in page.context and not page.context.get("make"):
            page = client.post("/emulator/connect/login", {"flow": flow, "make": "TESLA"})
            flow = page.context["flow"]
        response = client.post("/emulator/connect/login", {"flow": flow, "username": username, "password": "pw"})
        if response.status_code == 302:
            return query_of(response["Location"])
        assert response.status_code == 200, response.content
        if vehicles is None:
            vehicles = [str(c["vehicle"].vehicle_id) for c in response.context["cars"] if c["eligible"]]
            if response.context["single_select"]:
                vehicles = vehicles[:1]
        response = client.post(
            "/emulator/connect/decide", {"flow": response.context["flow"], "vehicle": vehicles, "action": action}
        )
        assert response.status_code == 302, response.content
        return query_of(response["Location"])

    return walk


@pytest.fixture
def connected(walk_connect, auth_client) -> Callable[..., smartcar.v2_response.Access]:
    """connected(username, scopes) -> the Access the SDK returns after a full Connect and code exchange."""

    def connect(username: str = "alice@example.com", scopes: list[str] | None = None, **kwargs):
        result = walk_connect(username, scopes or ALL_SCOPES, **kwargs)
        assert "code" in result, result
        return auth_client.exchange_code(result["code"])

    return connect


@pytest.fixture
def first_vehicle(connected) -> Callable[..., smartcar.Vehicle]:
    """first_vehicle(username, scopes, powertrain=None, unit_system="metric") -> a Vehicle from a fresh connection."""

    def make(username="alice@example.com", scopes=None, *, unit_system="metric"):
        access = connected(username, scopes)
        vehicle_id = smartcar.get_vehicles(access.access_token).vehicles[0]
        return smartcar.Vehicle(vehicle_id, access.access_token, {"unit_system": unit_system})

    return make
