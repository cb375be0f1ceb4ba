from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from smartcar_emulator.models import AuthorizationCode, EmulatedVehicle
from tests.helpers import in_threads, query_of
from tests.vehicles.conftest import messages_of, walk_to_callback
from vehicles.models import PendingConnect, SmartcarConnection, Vehicle
from vehicles.services import connect

pytestmark = pytest.mark.django_db(transaction=True)


def emulator_fleet(username: str) -> set[tuple[str, str, int]]:
    return {(car.make, car.model, car.year) for car in EmulatedVehicle.objects.filter(owner__username=username)}


def test_connecting_a_car_lists_it_with_make_model_and_year(alice_client, alice, connect_car):
    walk = connect_car(alice_client, username="driver@example.com")

    assert walk.callback_url.startswith("http://localhost:8000/exchange?")
    assert walk.response.status_code == 302
    assert walk.response.url == reverse("vehicles:list")
    assert walk.response["Referrer-Policy"] == "no-referrer"
    page = alice_client.get(walk.response.url)
    html = page.content.decode()
    rows = {(v.make, v.model, v.year) for v in Vehicle.objects.filter(owner=alice)}
    assert rows == emulator_fleet("driver@example.com")
    for make, model, year in rows:
        assert make in html
        assert model in html
        assert str(year) in html
    count = len(rows)
    assert f"{count} vehicle{'s' if count != 1 else ''} connected." in html
    connection = SmartcarConnection.objects.get(owner=alice)
    assert connection.status == SmartcarConnection.Status.ACTIVE
    assert connection.scopes == ["read_vehicle_info"]


def test_connect_sends_the_configured_redirect_uri_scopes_and_mode(alice_client, smartcar, settings):
    settings.SMARTCAR_SCOPES = ["read_vehicle_info", "read_odometer"]

    location = alice_client.get("/login")["Location"]

    assert location.startswith(f"{smartcar}/connect/oauth/authorize?")
    query = query_of(location)
    assert query["redirect_uri"] == settings.SMARTCAR_REDIRECT_URI
    assert query["scope"] == "read_vehicle_info read_odometer"
    assert query["mode"] == "test"
    assert query["client_id"] == settings.SMARTCAR_CLIENT_ID
    assert len(query["state"]) >= 43  # 256 random bits, base64


def test_anonymous_visitor_signs_in_then_continues_to_connect(client, alice, password, smartcar):
    response = client.get("/login")
    assert response.url == f"{reverse('accounts:login')}?next=/login"

    signed_in = client.post(response.url, {"username": alice.email, "password": password, "next": "/login"})
    assert signed_in.url == "/login"
    assert client.get("/login")["Location"].startswith(f"{smartcar}/connect/oauth/authorize?")


def test_new_visitor_signs_up_then_continues_to_connect(client, smartcar):
    form = client.get(reverse("accounts:signup"), {"next": "/login"})
    assert 'name="next" value="/login"' in form.content.decode()

    response = client.post(
        reverse("accounts:signup"),
        {
            "email": "new@example.com",
            "password1": "a sturdy passphrase",
            "password2": "a sturdy passphrase",
            "next": "/login",
        },
    )

    assert response.url == "/login"
    assert client.get("/login")["Location"].startswith(f"{smartcar}/connect/oauth/authorize?")


@pytest.mark.parametrize(
    ("username", "action", "message"),
    [
        ("driver@example.com", "deny", "You chose not to give access to your car, so nothing was connected."),
        ("driver@example.com", "back", "You returned before finishing Smartcar Connect, so nothing was connected."),
        ("no_vehicles@example.com", "approve", "Smartcar found no vehicles in that connected-services account"),
        ("vehicle_incompatible@example.com", "approve", "That vehicle cannot be connected through Smartcar yet"),
    ],
)
def test_each_connect_error_names_what_happened_and_stores_nothing(
    alice_client, connect_car, username, action, message
):
    walk = connect_car(alice_client, username=username, action=action)

    assert "error" in walk.callback
    assert walk.response.url == reverse("vehicles:list")
    assert any(message in text for text in messages_of(walk.response))
    assert not SmartcarConnection.objects.exists()
    assert not Vehicle.objects.exists()


@pytest.mark.parametrize("error", ["invalid_subscription", "configuration_error", "server_error", "<script>x</script>"])
def test_other_connect_errors_get_a_friendly_escaped_message(alice_client, smartcar, error):
    state = query_of(alice_client.get("/login")["Location"])["state"]

    response = alice_client.get(
        "/exchange", {"state": state, "error": error, "error_description": "<b>bold</b>"}, follow=True
    )

    html = response.content.decode()
    assert "nothing was connected" in html or "try again" in html.lower()
    assert "<script>x</script>" not in html
    assert "<b>bold</b>" not in html
    assert not SmartcarConnection.objects.exists()


def start_and_walk(client, username: str = "driver@example.com") -> dict[str, str]:
    """Start Connect and approve it, but stop before returning to /exchange; returns the callback's query."""
    location = client.get("/login")["Location"]
    return query_of(walk_to_callback(client, location, username=username))


def assert_code_still_unused(code: str) -> None:
    """The code was never sent to the token endpoint: the emulator still holds it unused."""
    digest = hashlib.sha256(code.encode()).hexdigest()
    assert AuthorizationCode.objects.get(code_hash=digest).used_at is None


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (lambda q: {"code": q["code"]}, "can only be reached from Smartcar Connect"),
        (lambda q: {"code": q["code"], "state": "forged-state"}, "This Smartcar Connect link has expired"),
    ],
)
def test_callback_without_a_valid_state_is_rejected_before_the_code_is_used(alice_client, smartcar, tamper, message):
    callback = start_and_walk(alice_client)

    response = alice_client.get("/exchange", tamper(callback))

    assert response.url == reverse("vehicles:list")
    assert any(message in text for text in messages_of(response))
    assert not SmartcarConnection.objects.exists()
    assert_code_still_unused(callback["code"])


def test_expired_state_is_rejected(alice_client, smartcar):
    callback = start_and_walk(alice_client)

    with time_machine.travel(timezone.now() + connect.STATE_LIFETIME + timedelta(seconds=1)):
        response = alice_client.get("/exchange", callback)

    assert any("has expired" in text for text in messages_of(response))
    assert not SmartcarConnection.objects.exists()
    assert_code_still_unused(callback["code"])


def test_a_stale_callback_says_the_link_expired_and_offers_to_connect_again(alice_client, smartcar):
    callback = start_and_walk(alice_client)
    # The pending Connect was cleaned up long ago (a callback reopened from the browser's history).
    PendingConnect.objects.all().delete()

    response = alice_client.get("/exchange", callback)
    page = alice_client.get(response.url).content.decode()

    assert response.url == reverse("vehicles:list")
    assert "This Smartcar Connect link has expired, so nothing was connected." in page
    assert '<a class="button button-small" href="/login">Connect again</a>' in page
    assert "your account" not in page.split("<main", 1)[1]
    assert_code_still_unused(callback["code"])


def test_reused_state_is_rejected(alice_client, alice, smartcar):
    callback = start_and_walk(alice_client)
    assert alice_client.get("/exchange", callback).url == reverse("vehicles:list")
    assert SmartcarConnection.objects.filter(owner=alice).count() == 1

    again = alice_client.get("/exchange", callback)

    assert any("has expired" in text for text in messages_of(again))
    assert SmartcarConnection.objects.count() == 1


def test_another_users_state_is_rejected(alice_client, bob, smartcar):
    callback = start_and_walk(alice_client)
    bob_client = Client()
    bob_client.force_login(bob)

    response = bob_client.get("/exchange", callback)

    # Told the same as for an expired link: nothing about someone else's Connect.
    assert any("This Smartcar Connect link has expired" in text for text in messages_of(response))
    assert not SmartcarConnection.objects.exists()
    assert_code_still_unused(callback["code"])


def test_anonymous_callback_does_nothing(alice_client, smartcar):
    callback = start_and_walk(alice_client)

    response = Client().get("/exchange", callback)

    assert response.url == reverse("accounts:login")
    assert not SmartcarConnection.objects.exists()
    assert_code_still_unused(callback["code"])


def test_two_racing_callbacks_with_one_state_connect_once(alice_client, alice, smartcar):
    callback = start_and_walk(alice_client)
    outcomes: list[str] = []

    def finish() -> None:
        try:
            connect.finish_connect(user=alice, state=callback["state"], code=callback["code"])
            outcomes.append("connected")
        except connect.StateRejected:
            outcomes.append("rejected")

    in_threads(finish, 2)

    assert sorted(outcomes) == ["connected", "rejected"]
    assert SmartcarConnection.objects.filter(owner=alice).count() == 1


def test_reused_code_fails_cleanly(alice_client, alice, smartcar):
    first = start_and_walk(alice_client)
    alice_client.get("/exchange", first)
    second_state = query_of(alice_client.get("/login")["Location"])["state"]
    before = SmartcarConnection.objects.get(owner=alice).token_version

    response = alice_client.get("/exchange", {"code": first["code"], "state": second_state})

    assert any("could not be connected" in text for text in messages_of(response))
    assert SmartcarConnection.objects.get(owner=alice).token_version == before


def test_return_to_is_honoured_only_for_same_site_paths(alice_client, smartcar):
    location = alice_client.get("/login?next=/accounts/profile/")["Location"]
    callback = query_of(walk_to_callback(alice_client, location, username="driver@example.com"))
    assert alice_client.get("/exchange", callback).url == "/accounts/profile/"

    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        location = alice_client.get("/login", {"next": target})["Location"]
        callback = query_of(walk_to_callback(alice_client, location, username="driver@example.com"))
        assert alice_client.get("/exchange", callback).url == reverse("vehicles:list")


def test_two_accounts_make_two_connections_and_reconnecting_updates_one(alice_client, alice, connect_car):
    connect_car(alice_client, username="driver@example.com")
    connect_car(alice_client, username="second.driver@example.com")
    assert SmartcarConnection.objects.filter(owner=alice).count() == 2
    first = SmartcarConnection.objects.filter(owner=alice).order_by("pk").first()
    vehicle_ids = set(first.vehicles.values_list("pk", flat=True))

    walk = connect_car(alice_client, username="driver@example.com")

    assert any("reconnected" in text for text in messages_of(walk.response))
    assert SmartcarConnection.objects.filter(owner=alice).count() == 2
    first.refresh_from_db()
    assert first.token_version == 2
    assert set(first.vehicles.values_list("pk", flat=True)) == vehicle_ids


def test_the_same_car_connected_by_two_users_is_two_rows(alice_client, bob, connect_car):
    connect_car(alice_client, username="shared@example.com")
    bob_client = Client()
    bob_client.force_login(bob)
    connect_car(bob_client, username="shared@example.com")

    alice_ids = set(
        Vehicle.objects.filter(owner__email="alice@example.com").values_list("smartcar_vehicle_id", flat=True)
    )
    bob_ids = set(Vehicle.objects.filter(owner=bob).values_list("smartcar_vehicle_id", flat=True))
    assert alice_ids == bob_ids
    assert Vehicle.objects.count() == 2 * len(alice_ids)
    assert SmartcarConnection.objects.count() == 2


def test_vehicle_path_redirects_to_the_list(alice_client):
    response = alice_client.get("/vehicle")

    assert response.status_code == 302
    assert response.url == reverse("vehicles:list")


def test_the_home_page_invites_to_connect_then_lists_the_cars(alice_client, connect_car):
    assert "Connect your first car" in alice_client.get("/").content.decode()

    connect_car(alice_client, username="driver@example.com")

    html = alice_client.get("/").content.decode()
    assert "Connect your first car" not in html
    make = Vehicle.objects.first().make
    assert make in html


@pytest.mark.parametrize(("make", "sent"), [("CHEVROLET", "CHEVROLET"), ("land rover", "LAND ROVER"), ("<x>", None)])
def test_connect_can_open_at_a_make(alice_client, smartcar, make, sent):
    location = alice_client.get("/login", {"make": make})["Location"]

    assert query_of(location).get("make") == sent
