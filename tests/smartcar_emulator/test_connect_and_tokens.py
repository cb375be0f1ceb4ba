from __future__ import annotations

import re
from datetime import timedelta

import pytest
import requests
import smartcar
import time_machine
from django.conf import settings
from django.test import Client, override_settings
from django.utils import timezone

from smartcar_emulator.models import EmulatedVehicle
from tests.helpers import local_path, query_of
from tests.smartcar_emulator.conftest import REDIRECT_URI

pytestmark = pytest.mark.django_db(transaction=True)


def test_connect_redirects_with_code_state_and_user_id(walk_connect, control):
    result = walk_connect("alice@example.com", ["read_vehicle_info"])

    assert result["state"] == "s-123"
    assert result["code"]
    assert result["user_id"] == control("GET", "users/alice@example.com/vehicles").json()["user_id"]


def test_brand_list_is_skipped_with_make(client, auth_client):
    url = auth_client.get_auth_url(["read_vehicle_info"], {"make_bypass": "TESLA"})

    page = client.get(local_path(url))

    assert "smartcar_emulator/login.html" in [t.name for t in page.templates]
    assert b"Sign in to Tesla" in page.content


def test_brand_list_is_shown_without_make(client, auth_client):
    page = client.get(local_path(auth_client.get_auth_url(["read_vehicle_info"])))

    assert b"Select your vehicle" in page.content
    assert b"Tesla" in page.content


def test_unknown_client_gets_an_error_page_not_a_redirect(client, auth_client):
    url = auth_client.get_auth_url(["read_vehicle_info"]).replace(settings.SMARTCAR_EMULATOR_CLIENT_ID, "stranger")

    page = client.get(local_path(url))

    assert page.status_code == 400
    assert b"Unknown application" in page.content


def test_unregistered_redirect_uri_gets_an_error_page(client, emulator_url):
    client_id = settings.SMARTCAR_EMULATOR_CLIENT_ID
    bad = smartcar.AuthClient(client_id, "x", redirect_uri="https://evil.example/cb", mode="test")

    page = client.get(local_path(bad.get_auth_url(["read_vehicle_info"])))

    assert page.status_code == 400
    assert b"not registered" in page.content


def test_deny_redirects_access_denied_with_state(walk_connect):
    result = walk_connect(action="deny")

    assert result == {
        "error": "access_denied",
        "error_description": "User denied access to application.",
        "state": "s-123",
    }


def test_back_to_application_redirects_with_its_error(walk_connect):
    result = walk_connect(action="back")

    assert result["error"] == "user_manually_returned_to_application"
    assert result["state"] == "s-123"


def test_no_vehicles_username_ends_connect_with_no_vehicles(walk_connect):
    result = walk_connect("no_vehicles@example.com")

    assert result["error"] == "no_vehicles"
    assert result["state"] == "s-123"


def test_vehicle_incompatible_username_reports_the_car(walk_connect):
    result = walk_connect("vehicle_incompatible")

    assert result["error"] == "vehicle_incompatible"
    assert {"vin", "make", "model", "year", "error_description"} <= result.keys()


def test_same_username_gets_the_same_cars_after_the_database_is_wiped(control):
    first = control("GET", "users/carol@example.com/vehicles").json()
    control("POST", "reset")

    second = control("GET", "users/carol@example.com/vehicles").json()

    assert [v["vehicle_id"] for v in first["vehicles"]] == [v["vehicle_id"] for v in second["vehicles"]]
    assert [v["vin"] for v in first["vehicles"]] == [v["vin"] for v in second["vehicles"]]
    assert first["user_id"] == second["user_id"]
    assert 1 <= len(first["vehicles"]) <= 3


def test_fleets_mix_electric_and_fuel_cars(control):
    powertrains = set()
    for n in range(12):
        powertrains |= {v["powertrain"] for v in control("GET", f"users/person{n}/vehicles").json()["vehicles"]}

    assert {"BEV", "ICE"} <= powertrains


def test_single_select_limits_the_grant_to_one_car(connected):
    access = connected("big_fleet", ["read_vehicle_info"], options={"single_select": {"enabled": True}})

    assert len(smartcar.get_vehicles(access.access_token).vehicles) == 1


def test_single_select_vin_grants_that_car_only(connected, control):
    car = control("GET", "users/big_fleet/vehicles").json()["vehicles"][3]

    access = connected("big_fleet", ["read_vehicle_info"], options={"single_select": {"vin": car["vin"]}})

    assert smartcar.get_vehicles(access.access_token).vehicles == [car["vehicle_id"]]


def test_approval_prompt_auto_skips_the_permissions_page_for_a_known_grant(connected, client, auth_client):
    connected("dave", ["read_vehicle_info"])
    url = auth_client.get_auth_url(["read_vehicle_info"], {"state": "again", "make_bypass": "TESLA"})
    flow = client.get(local_path(url)).context["flow"]

    response = client.post("/emulator/connect/login", {"flow": flow, "username": "dave", "password": "x"})

    assert response.status_code == 302
    assert "code" in query_of(response["Location"])


def test_approval_prompt_force_shows_the_permissions_page_again(connected, client, auth_client):
    connected("dave", ["read_vehicle_info"])
    url = auth_client.get_auth_url(["read_vehicle_info"], {"force_prompt": True, "make_bypass": "TESLA"})
    flow = client.get(local_path(url)).context["flow"]

    response = client.post("/emulator/connect/login", {"flow": flow, "username": "dave", "password": "x"})

    assert response.status_code == 200
    assert b"Approve" in response.content


def test_required_scope_disables_incompatible_cars(walk_connect, control, client, auth_client):
    url = auth_client.get_auth_url(["required:read_fuel"], {"make_bypass": "TOYOTA"})
    flow = client.get(local_path(url)).context["flow"]

    response = client.post("/emulator/connect/login", {"flow": flow, "username": "big_fleet", "password": "x"})

    eligible = {c["vehicle"].powertrain for c in response.context["cars"] if c["eligible"]}
    assert eligible == {"ICE", "PHEV"}


def test_exchange_code_returns_a_full_access(connected):
    access = connected()

    assert access.token_type == "Bearer"
    assert access.expires_in == 7200
    assert access.access_token
    assert access.refresh_token
    assert access.expiration > access.expiration.utcnow()


def test_reused_code_is_rejected_with_400(walk_connect, auth_client):
    code = walk_connect()["code"]
    auth_client.exchange_code(code)

    with pytest.raises(smartcar.SmartcarException) as excinfo:
        auth_client.exchange_code(code)

    assert excinfo.value.status_code == 400
    assert excinfo.value.type == "invalid_request"
    assert code in excinfo.value.message


def test_code_expires_after_ten_minutes(walk_connect, auth_client, control):
    code = walk_connect()["code"]
    control("PUT", "clock", json={"offset_seconds": 601})

    with pytest.raises(smartcar.SmartcarException) as excinfo:
        auth_client.exchange_code(code)

    assert (excinfo.value.status_code, excinfo.value.type) == (400, "invalid_request")


def test_code_with_another_redirect_uri_is_invalid_grant_and_stays_usable(walk_connect, auth_client):
    code = walk_connect()["code"]
    other = smartcar.AuthClient(
        settings.SMARTCAR_EMULATOR_CLIENT_ID,
        settings.SMARTCAR_EMULATOR_CLIENT_SECRET,
        redirect_uri="http://127.0.0.1:8000/exchange",
        mode="test",
    )

    with pytest.raises(smartcar.SmartcarException) as excinfo:
        other.exchange_code(code)

    assert (excinfo.value.status_code, excinfo.value.type) == (400, "invalid_grant")
    assert excinfo.value.message == "Unauthorized redirect_uri: http://127.0.0.1:8000/exchange"
    assert auth_client.exchange_code(code).access_token


def test_code_without_redirect_uri_is_invalid_grant(walk_connect, emulator_url):
    response = requests.post(
        f"{emulator_url}/auth/oauth/token",
        data={"grant_type": "authorization_code", "code": walk_connect()["code"]},
        auth=(settings.SMARTCAR_EMULATOR_CLIENT_ID, settings.SMARTCAR_EMULATOR_CLIENT_SECRET),
        timeout=10,
    )

    assert response.status_code == 400
    assert response.json() == {"error": "invalid_grant", "error_description": "Unauthorized redirect_uri: "}


def test_a_make_the_application_is_not_enabled_for_is_unauthorized_client(walk_connect, auth_client, control):
    control("PUT", "application", json={"enabled_makes": ["TESLA"]})
    cars = control("GET", "users/big_fleet/vehicles").json()["vehicles"]
    nissan = next(car["vehicle_id"] for car in cars if car["make"] == "NISSAN")
    code = walk_connect("big_fleet", vehicles=[nissan])["code"]

    with pytest.raises(smartcar.SmartcarException) as excinfo:
        auth_client.exchange_code(code)

    assert (excinfo.value.status_code, excinfo.value.type) == (400, "unauthorized_client")
    assert excinfo.value.message == "Application not authorized to requested make(s): NISSAN"
    control("PUT", "application", json={"enabled_makes": []})
    assert auth_client.exchange_code(code).access_token


def test_enabled_makes_are_checked_as_a_list_of_names(control):
    assert control("GET", "application").json()["enabled_makes"] == []
    assert control("PUT", "application", json={"enabled_makes": ["tesla", "bmw"]}).json()["enabled_makes"] == [
        "BMW",
        "TESLA",
    ]

    response = control("PUT", "application", json={"enabled_makes": "TESLA"})

    assert response.status_code == 400
    assert "enabled_makes" in response.json()["error"]


def test_wrong_client_secret_is_invalid_client_401(walk_connect, emulator_url):
    code = walk_connect()["code"]
    wrong = smartcar.AuthClient(settings.SMARTCAR_EMULATOR_CLIENT_ID, "rotated", redirect_uri=REDIRECT_URI)

    with pytest.raises(smartcar.SmartcarException) as excinfo:
        wrong.exchange_code(code)

    assert (excinfo.value.status_code, excinfo.value.type) == (401, "invalid_client")
    assert excinfo.value.message


def test_other_grant_types_are_unsupported(emulator_url):
    response = requests.post(
        f"{emulator_url}/auth/oauth/token",
        data={"grant_type": "password"},
        auth=(settings.SMARTCAR_EMULATOR_CLIENT_ID, settings.SMARTCAR_EMULATOR_CLIENT_SECRET),
        timeout=10,
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": "unsupported_grant_type",
        "error_description": "Unsupported grant_type: password.",
    }


def test_refresh_rotates_the_pair(connected, auth_client):
    access = connected()

    renewed = auth_client.exchange_refresh_token(access.refresh_token)

    assert renewed.refresh_token != access.refresh_token
    assert renewed.access_token != access.access_token
    assert renewed.expires_in == 7200
    assert smartcar.get_user(renewed.access_token).id


def test_old_refresh_token_works_inside_the_grace(connected, auth_client, control):
    access = connected()
    auth_client.exchange_refresh_token(access.refresh_token)
    control("PUT", "clock", json={"offset_seconds": settings.SMARTCAR_EMULATOR_REFRESH_GRACE_SECONDS - 5})

    again = auth_client.exchange_refresh_token(access.refresh_token)

    assert again.access_token


def test_old_refresh_token_fails_after_the_grace(connected, auth_client, control):
    access = connected()
    renewed = auth_client.exchange_refresh_token(access.refresh_token)
    control("PUT", "clock", json={"offset_seconds": settings.SMARTCAR_EMULATOR_REFRESH_GRACE_SECONDS + 1})

    with pytest.raises(smartcar.SmartcarException) as excinfo:
        auth_client.exchange_refresh_token(access.refresh_token)

    assert (excinfo.value.status_code, excinfo.value.type) == (400, "invalid_grant")
    assert excinfo.value.message == "Invalid or expired refresh token."
    assert auth_client.exchange_refresh_token(renewed.refresh_token).access_token


@override_settings(SMARTCAR_EMULATOR_REFRESH_GRACE_SECONDS=600)
def test_refresh_grace_is_configurable(connected, auth_client, control):
    access = connected()
    auth_client.exchange_refresh_token(access.refresh_token)
    control("PUT", "clock", json={"offset_seconds": 300})

    assert auth_client.exchange_refresh_token(access.refresh_token).access_token


def test_unused_refresh_token_dies_after_sixty_days(connected, auth_client):
    access = connected()

    later = timezone.now() + timedelta(days=60, seconds=1)
    with time_machine.travel(later), pytest.raises(smartcar.SmartcarException) as excinfo:
        auth_client.exchange_refresh_token(access.refresh_token)

    assert excinfo.value.type == "invalid_grant"


def test_unknown_refresh_token_is_invalid_grant(auth_client):
    with pytest.raises(smartcar.SmartcarException) as excinfo:
        auth_client.exchange_refresh_token("not-a-token")

    assert excinfo.value.type == "invalid_grant"
    assert excinfo.value.message == "Invalid refresh_token: not-a-token."


def test_access_token_expires_after_two_hours(connected, control):
    access = connected()
    control("PUT", "clock", json={"offset_seconds": 7201})

    with pytest.raises(smartcar.SmartcarException) as excinfo:
        smartcar.get_user(access.access_token)

    assert (excinfo.value.status_code, excinfo.value.type) == (401, "AUTHENTICATION")
    # As smartcar.com/docs/errors/api-errors/authentication-errors shows it: no resolution.
    assert excinfo.value.resolution == {"type": None, "url": None}


def test_user_id_is_stable_across_connections(connected):
    first = smartcar.get_user(connected("erin").access_token)
    second = smartcar.get_user(connected("erin").access_token)

    assert first.id == second.id
    assert first.meta.request_id


def test_vehicles_are_paged(connected):
    token = connected("big_fleet", ["read_vehicle_info"]).access_token

    page = smartcar.get_vehicles(token, {"limit": 5, "offset": 10})

    assert len(page.vehicles) == 2
    assert (page.paging.count, page.paging.offset) == (12, 10)


def test_attributes_describe_the_car(connected):
    token = connected("frank", ["read_vehicle_info"]).access_token
    vehicle_id = smartcar.get_vehicles(token).vehicles[0]

    attributes = smartcar.Vehicle(vehicle_id, token).attributes()

    car = EmulatedVehicle.objects.get(vehicle_id=vehicle_id)
    assert (attributes.id, attributes.make, attributes.model, attributes.year) == (
        vehicle_id,
        car.make,
        car.model,
        car.year,
    )
    assert isinstance(attributes.year, int)


def test_permissions_list_the_granted_scopes(connected):
    token = connected("gina", ["read_vehicle_info", "read_odometer"]).access_token
    vehicle = smartcar.Vehicle(smartcar.get_vehicles(token).vehicles[0], token)

    permissions = vehicle.permissions()
    paged = vehicle.permissions({"limit": 1, "offset": 1})

    assert permissions.permissions == ["read_vehicle_info", "read_odometer"]
    assert (paged.permissions, paged.paging.count, paged.paging.offset) == (["read_odometer"], 2, 1)


def test_disconnect_revokes_access_to_that_car(connected):
    token = connected("big_fleet", ["read_vehicle_info"]).access_token
    first, second = smartcar.get_vehicles(token).vehicles[:2]

    status = smartcar.Vehicle(first, token).disconnect()

    assert status.status == "success"
    assert first not in smartcar.get_vehicles(token).vehicles
    assert smartcar.Vehicle(second, token).attributes().id == second
    with pytest.raises(smartcar.SmartcarException) as excinfo:
        smartcar.Vehicle(first, token).attributes()
    assert excinfo.value.status_code == 401


def test_disconnecting_the_last_car_kills_the_token(connected):
    token = connected("helen", ["read_vehicle_info"]).access_token
    for vehicle_id in smartcar.get_vehicles(token).vehicles:
        smartcar.Vehicle(vehicle_id, token).disconnect()

    with pytest.raises(smartcar.SmartcarException) as excinfo:
        smartcar.get_user(token)

    assert excinfo.value.type == "AUTHENTICATION"


def test_a_browser_with_csrf_checks_can_click_through_connect(auth_client):
    browser = Client(enforce_csrf_checks=True)
    page = browser.get(local_path(auth_client.get_auth_url(["read_vehicle_info"], {"state": "b"})))

    def form_fields(page) -> dict[str, str]:
        html = page.content.decode()
        return {
            "csrfmiddlewaretoken": re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1),
            "flow": re.search(r'name="flow" value="([^"]+)"', html).group(1),
        }

    page = browser.post("/emulator/connect/login", {**form_fields(page), "make": "NISSAN"})
    page = browser.post("/emulator/connect/login", {**form_fields(page), "username": "sam", "password": "pw"})
    vehicle = re.search(r'name="vehicle"\s+value="([^"]+)"', page.content.decode()).group(1)
    response = browser.post("/emulator/connect/decide", {**form_fields(page), "vehicle": vehicle, "action": "approve"})

    assert response.status_code == 302
    assert query_of(response["Location"])["state"] == "b"
    assert response["Location"].startswith(REDIRECT_URI)


def test_connect_pages_use_only_the_local_stylesheet(client, auth_client):
    page = client.get(local_path(auth_client.get_auth_url(["read_vehicle_info"])))
    html = page.content.decode()

    assert "/static/smartcar_emulator/connect.css" in html
    assert "<script" not in html
    assert "style=" not in html
    assert "https://" not in html


def test_index_page_lists_the_endpoints_and_special_usernames(client):
    page = client.get("/emulator/")

    assert page.status_code == 200
    assert b"/emulator/auth/oauth/token" in page.content
    assert b"no_vehicles" in page.content


def test_a_tampered_connect_flow_gets_an_error_page(client):
    response = client.post("/emulator/connect/login", {"flow": "forged", "username": "x", "password": "y"})

    assert response.status_code == 400
    assert b"expired or is invalid" in response.content


def test_token_responses_carry_a_request_id_and_are_not_cached(walk_connect, emulator_url):
    response = requests.post(
        f"{emulator_url}/auth/oauth/token",
        data={"grant_type": "authorization_code", "code": walk_connect()["code"], "redirect_uri": REDIRECT_URI},
        auth=(settings.SMARTCAR_EMULATOR_CLIENT_ID, settings.SMARTCAR_EMULATOR_CLIENT_SECRET),
        timeout=10,
    )

    assert response.headers["SC-Request-Id"]
    assert response.headers["Cache-Control"] == "no-store"
    assert set(response.json()) == {"access_token", "token_type", "expires_in", "refresh_token"}
