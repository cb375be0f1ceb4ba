"""Smartcar as it is today, against the emulator over HTTP: v3 signals in pages with millisecond times and per-signal
errors, and API Authentication (one application token, `sc-user-id` on every v3 call) beside per-vehicle tokens."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests
from django.urls import reverse

from smartcar_emulator.models import RequestLog
from tests.helpers import ALL_SCOPES, in_threads
from vehicles import smartcar_client
from vehicles.models import ApplicationToken, SmartcarConnection, Vehicle, VehicleCommand
from vehicles.services import commands, disconnect, tokens, vehicle_data

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def all_scopes(settings):
    settings.SMARTCAR_SCOPES = ALL_SCOPES


@pytest.fixture
def application_mode(settings, all_scopes):
    settings.SMARTCAR_AUTH = "application"


def connected_cars(client, connect_car, owner, *, username: str = "driver@example.com") -> list[Vehicle]:
    walk = connect_car(client, username=username)
    assert walk.response.status_code == 302, walk.response
    return list(Vehicle.objects.select_related("connection").filter(owner=owner).order_by("pk"))


def raw_signals(emulator: str, access_token: str, vehicle_id: str) -> list[dict]:
    """Every signal as the emulator serves it, read without our client (page by page through links.next)."""
    # Links are relative to the API's base without the version ("/vehicles/{id}/signals?page=2&pageSize=10").
    base = f"{emulator}/vehicle-api/v3"
    found, url = [], f"{base}/vehicles/{vehicle_id}/signals"
    while url:
        response = requests.get(url, headers={"Authorization": f"Bearer {access_token}"}, timeout=10)
        assert response.status_code == 200, response.text
        body = response.json()
        found.extend(body["data"])
        following = body["links"].get("next")
        url = f"{base}{following}" if following and following.startswith("/") else following
    return found


def test_every_signal_page_is_fetched_and_shown(alice, alice_client, connect_car, all_scopes, emulator):
    car = connected_cars(alice_client, connect_car, alice)[0]
    before = RequestLog.objects.count()

    vehicle_data.sync_vehicle_data(vehicle_id=car.pk)

    pages = [
        row.path
        for row in RequestLog.objects.order_by("pk")[before:]
        if f"/v3/vehicles/{car.smartcar_vehicle_id}/signals" in row.path
    ]
    served = raw_signals(emulator, car.connection.access_token, car.smartcar_vehicle_id)
    stored = Vehicle.objects.get(pk=car.pk).data["signals"]
    # More signals than one page of 10 (the documented default): every page was asked for, every signal kept.
    assert len(served) > 10
    assert len(pages) >= 2
    assert any("page=2" in path for path in pages)
    assert set(stored) == {signal["attributes"]["code"] for signal in served}


def test_millisecond_times_and_a_signal_the_car_cannot_give_are_shown_as_the_car_said(
    alice, alice_client, connect_car, all_scopes, control, emulator
):
    car = connected_cars(alice_client, connect_car, alice)[0]
    # Asleep, the car still answers 200; some signals then carry an ERROR status of their own (§4b).
    assert control("PATCH", f"vehicles/{car.smartcar_vehicle_id}", json={"is_asleep": True}).status_code == 200

    vehicle_data.sync_vehicle_data(vehicle_id=car.pk)

    served = {
        signal["attributes"]["code"]: signal
        for signal in raw_signals(emulator, car.connection.access_token, car.smartcar_vehicle_id)
    }
    failing = [code for code, signal in served.items() if signal["attributes"]["status"]["value"] != "SUCCESS"]
    working = [code for code, signal in served.items() if signal["attributes"]["status"]["value"] == "SUCCESS"]
    assert failing
    assert working
    page = alice_client.get(reverse("vehicles:detail", args=[car.pk])).content.decode()
    stored = Vehicle.objects.get(pk=car.pk).data["signals"]
    for code in working:
        retrieved_ms = served[code]["meta"]["retrievedAt"]
        expected = datetime.fromtimestamp(retrieved_ms / 1000, tz=UTC)
        assert abs(datetime.fromisoformat(stored[code]["retrieved_at"]) - expected).total_seconds() < 5
        assert expected.year >= 2025  # milliseconds read as milliseconds
    error = served[failing[0]]["attributes"]["status"]["error"]
    assert stored[failing[0]]["error"] == {"type": error["type"], "code": error["code"]}
    assert "unavailable (" in page


def test_application_mode_connects_with_the_user_id_and_no_tokens(
    alice, alice_client, connect_car, application_mode, emulator
):
    cars = connected_cars(alice_client, connect_car, alice)

    connection = SmartcarConnection.objects.get(owner=alice)
    assert connection.auth == SmartcarConnection.Auth.APPLICATION
    assert connection.access_token == connection.refresh_token == ""
    assert connection.access_expires_at is None
    assert cars
    assert all(car.make and car.year for car in cars)
    # No code was exchanged; the cars came from the application's connections for that user.
    assert not RequestLog.objects.filter(path__endswith="/auth/oauth/token").exists()
    assert RequestLog.objects.filter(path__contains="/v3/connections", user_id="").exists()
    assert ApplicationToken.objects.get().valid_for(tokens.APPLICATION_TOKEN_MARGIN)


def test_a_connection_reconnected_after_leaving_api_authentication_uses_its_own_tokens_again(
    alice, alice_client, connect_car, application_mode, emulator, settings
):
    connected_cars(alice_client, connect_car, alice)
    settings.SMARTCAR_AUTH = "vehicle-tokens"

    connected_cars(alice_client, connect_car, alice)

    connection = SmartcarConnection.objects.get(owner=alice)
    assert connection.auth == SmartcarConnection.Auth.VEHICLE_TOKENS
    assert connection.api_user_id is None
    assert tokens.get_access_token(connection=connection) == connection.access_token != ""


def test_every_v3_call_carries_the_connections_own_user_id(
    alice, bob, alice_client, client, connect_car, application_mode
):
    alice_car = connected_cars(alice_client, connect_car, alice, username="alice-driver@example.com")[0]
    client.force_login(bob)
    bob_car = connected_cars(client, connect_car, bob, username="bob-driver@example.com")[0]
    before = RequestLog.objects.count()

    vehicle_data.sync_vehicle_data(vehicle_id=alice_car.pk)
    vehicle_data.sync_vehicle_data(vehicle_id=bob_car.pk)

    calls = RequestLog.objects.order_by("pk")[before:]
    by_vehicle = {(row.vehicle_id, row.user_id) for row in calls if "/signals" in row.path}
    assert by_vehicle == {
        (alice_car.smartcar_vehicle_id, alice_car.connection.smartcar_user_id),
        (bob_car.smartcar_vehicle_id, bob_car.connection.smartcar_user_id),
    }
    assert Vehicle.objects.get(pk=alice_car.pk).data["signals"]


def test_one_users_car_can_never_be_read_with_another_users_id(
    alice, bob, alice_client, client, connect_car, application_mode
):
    alice_car = connected_cars(alice_client, connect_car, alice, username="alice-driver@example.com")[0]
    client.force_login(bob)
    bob_car = connected_cars(client, connect_car, bob, username="bob-driver@example.com")[0]
    token = tokens.get_application_token()

    with pytest.raises(smartcar_client.SmartcarError) as refused:
        smartcar_client.get_signals(
            access_token=token,
            vehicle_id=alice_car.smartcar_vehicle_id,
            user_id=bob_car.connection.smartcar_user_id,
        )

    assert refused.value.status in (401, 403, 404)


def test_an_application_token_smartcar_no_longer_accepts_is_replaced_once_and_the_call_made_again(
    alice, alice_client, connect_car, application_mode, control
):
    car = connected_cars(alice_client, connect_car, alice)[0]
    version = ApplicationToken.objects.get().token_version
    # Smartcar's clock past the token's hour: it refuses the token while the application still holds it as valid.
    assert control("POST", "clock", json={"advance_seconds": 2 * 60 * 60}).ok

    fetched = vehicle_data.sync_vehicle_data(vehicle_id=car.pk)

    assert fetched.sync_error == ""
    assert fetched.data["signals"]
    assert ApplicationToken.objects.get().token_version == version + 1


def test_ten_workers_needing_the_application_token_cause_one_iam_call(application_mode, emulator, db):
    before = RequestLog.objects.filter(path__endswith="/iam/oauth2/token").count()
    handed_out: list[str] = []

    in_threads(lambda: handed_out.append(tokens.get_application_token()), 10)

    assert RequestLog.objects.filter(path__endswith="/iam/oauth2/token").count() == before + 1
    assert len(handed_out) == 10
    assert len(set(handed_out)) == 1
    assert ApplicationToken.objects.get().token_version == 1


def test_beat_renews_the_application_token_before_it_ends(application_mode, emulator, db):
    first = tokens.get_application_token()
    ApplicationToken.objects.update(expires_at=ApplicationToken.objects.get().expires_at.replace(year=2000))

    tokens.renew_application_token()

    renewed = ApplicationToken.objects.get()
    assert renewed.access_token != first
    assert renewed.token_version == 2
    assert renewed.valid_for(tokens.APPLICATION_TOKEN_RENEW_BEFORE)


def test_application_mode_commands_go_over_v3_and_disconnect_removes_the_connection(
    alice, alice_client, connect_car, application_mode
):
    car = connected_cars(alice_client, connect_car, alice)[0]
    before = RequestLog.objects.count()

    record = commands.send_command(vehicle=car, user=alice, action=VehicleCommand.Action.LOCK)
    disconnect.disconnect_vehicle(vehicle=car)

    calls = list(RequestLog.objects.order_by("pk")[before:])
    assert record.outcome == VehicleCommand.Outcome.SUCCEEDED, record.message
    assert any(row.path.endswith("/commands/security/lock") and row.method == "POST" for row in calls)
    assert any(row.method == "DELETE" and "/v3/connections/" in row.path for row in calls)
    assert not Vehicle.objects.filter(pk=car.pk).exists()


def test_an_api_client_id_in_vehicle_token_mode_is_warned_about(settings):
    from django.core.checks import run_checks

    settings.SMARTCAR_CLIENT_ID = "client_0123456789"
    assert "vehicles.W001" in {message.id for message in run_checks()}
    settings.SMARTCAR_AUTH = "application"
    settings.SMARTCAR_API_CLIENT_ID = ""
    assert "vehicles.E009" in {message.id for message in run_checks()}
