from __future__ import annotations

import pytest
import requests
import smartcar
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from smartcar_emulator.checks import emulator_not_in_production
from smartcar_emulator.models import AccessToken, RequestLog
from tests.helpers import ALL_SCOPES

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def car(connected):
    token = connected("pat", ALL_SCOPES).access_token
    vehicle_id = smartcar.get_vehicles(token).vehicles[0]
    return smartcar.Vehicle(vehicle_id, token)


@pytest.mark.parametrize(
    ("error_type", "code", "status"),
    [
        ("VEHICLE_STATE", "UNREACHABLE", 409),
        ("CONNECTED_SERVICES_ACCOUNT", "ACCOUNT_ISSUE", 400),
        ("UPSTREAM", "NO_RESPONSE", 502),
        ("SERVER", "INTERNAL", 500),
        ("RATE_LIMIT", "SMARTCAR_API", 429),
    ],
)
def test_an_injected_fault_surfaces_as_that_error(car, control, error_type, code, status):
    control("POST", "faults", json={"error_type": error_type, "error_code": code, "path": "odometer", "times": 1})

    with pytest.raises(smartcar.SmartcarException) as excinfo:
        car.odometer()

    assert (excinfo.value.type, excinfo.value.code, excinfo.value.status_code) == (error_type, code, status)
    assert car.odometer().distance > 0


def test_a_vehicle_rate_limit_fault_carries_retry_after(car, control):
    control(
        "POST",
        "faults",
        json={"vehicle_id": car.vehicle_id, "error_type": "RATE_LIMIT", "error_code": "VEHICLE", "retry_after": 42},
    )

    with pytest.raises(smartcar.SmartcarException) as excinfo:
        car.location()

    assert excinfo.value.retry_after == "42"
    assert excinfo.value.status_code == 429


def test_a_fault_without_times_fires_until_deleted(car, control):
    fault = control("POST", "faults", json={"error_type": "UPSTREAM", "error_code": "NO_RESPONSE"}).json()
    for _ in range(3):
        with pytest.raises(smartcar.SmartcarException):
            car.vin()

    control("DELETE", f"faults/{fault['id']}")

    assert car.vin().vin


def test_a_fault_for_one_car_spares_the_others(connected, control):
    token = connected("big_fleet", ["read_vehicle_info"]).access_token
    first, second = smartcar.get_vehicles(token).vehicles[:2]
    control("POST", "faults", json={"vehicle_id": first, "error_type": "SERVER", "error_code": "INTERNAL"})

    assert smartcar.Vehicle(second, token).attributes().id == second
    with pytest.raises(smartcar.SmartcarException):
        smartcar.Vehicle(first, token).attributes()


def test_the_vehicle_throttle_answers_429_with_retry_after(car, control):
    control("PUT", "rate-limits", json={"vehicle_capacity": 2, "vehicle_refill_per_minute": 1})
    car.odometer()
    car.odometer()

    with pytest.raises(smartcar.SmartcarException) as excinfo:
        car.odometer()

    assert (excinfo.value.type, excinfo.value.code) == ("RATE_LIMIT", "VEHICLE")
    assert int(excinfo.value.retry_after) > 0
    control("PUT", "clock", json={"offset_seconds": 61})
    assert car.odometer().distance > 0


def test_every_path_of_a_batch_counts_against_the_throttle(car, control):
    control("PUT", "rate-limits", json={"vehicle_capacity": 2, "vehicle_refill_per_minute": 1})

    batch = car.batch(["/odometer", "/location", "/vin"])

    assert batch.odometer().distance > 0
    with pytest.raises(smartcar.SmartcarException) as excinfo:
        batch.vin()
    assert excinfo.value.retry_after


def test_the_application_bucket_answers_smartcar_api_429(car, control):
    control("PUT", "rate-limits", json={"app_capacity": 1, "app_refill_per_minute": 0})
    control("DELETE", "rate-limits")
    car.vin()

    with pytest.raises(smartcar.SmartcarException) as excinfo:
        car.vin()

    assert (excinfo.value.status_code, excinfo.value.code) == (429, "SMARTCAR_API")


def test_request_log_records_calls_without_full_tokens(car, control):
    car.odometer()

    entries = control("GET", "requests", params={"limit": 5}).json()["requests"]

    latest = entries[0]
    assert latest["path"].endswith("/odometer")
    assert latest["status_code"] == 200
    assert latest["vehicle_id"] == car.vehicle_id
    assert car.access_token not in str(entries)
    assert latest["token"] == car.access_token[:6] + "…"


def test_clock_can_be_read_set_and_advanced(control):
    assert control("PUT", "clock", json={"offset_seconds": 100}).json()["offset_seconds"] == 100

    assert control("POST", "clock", json={"advance_seconds": 50}).json()["offset_seconds"] == 150
    assert control("GET", "clock").json()["offset_seconds"] == 150


HUNDRED_YEARS = 36525 * 24 * 60 * 60


@pytest.mark.parametrize(
    ("method", "body"),
    [
        ("PUT", {"offset_seconds": 10**12}),
        ("PUT", {"offset_seconds": -(10**12)}),
        ("POST", {"advance_seconds": 10**12}),
        # Within the bound alone, beyond it once added to the offset already set.
        ("POST", {"advance_seconds": HUNDRED_YEARS}),
    ],
)
def test_clock_refuses_to_move_more_than_a_hundred_years_and_keeps_its_offset(control, method, body):
    control("PUT", "clock", json={"offset_seconds": 100})

    response = control(method, "clock", json=body)

    assert response.status_code == 400
    assert response.json()["error"].startswith(f"the clock must stay within {HUNDRED_YEARS} seconds (100 years)")
    after = control("GET", "clock")
    assert after.status_code == 200
    assert after.json()["offset_seconds"] == 100


def test_control_api_needs_the_emulator_credentials(emulator_url):
    response = requests.get(f"{emulator_url}/control/clock", auth=("emulator-client-id", "wrong"), timeout=10)

    assert response.status_code == 401


def test_control_api_rejects_bad_input(control):
    response = control("POST", "faults", json={"error_type": "NONSENSE"})

    assert response.status_code == 400
    assert "error_type" in response.json()["error"]


def test_a_car_can_be_put_to_sleep_and_woken(car, control):
    control("PATCH", f"vehicles/{car.vehicle_id}", json={"is_asleep": True})
    with pytest.raises(smartcar.SmartcarException) as excinfo:
        car.odometer()
    assert excinfo.value.code == "ASLEEP"

    control("PATCH", f"vehicles/{car.vehicle_id}", json={"is_asleep": False})

    assert car.odometer().distance > 0


def test_tokens_are_stored_only_as_hashes(connected):
    access = connected("quinn", ["read_vehicle_info"])

    stored = AccessToken.objects.get(hint=access.access_token[:6])

    assert access.access_token not in stored.token_hash
    assert not RequestLog.objects.filter(token_hint=access.access_token).exists()


def test_admin_pages_never_show_a_token(connected, admin_client):
    access = connected("rita", ["read_vehicle_info"])

    pages = [
        admin_client.get(f"/admin/smartcar_emulator/{name}/")
        for name in ("accesstoken", "refreshtoken", "authorizationcode", "requestlog", "grant", "emulatoruser")
    ]
    token_page = admin_client.get(f"/admin/smartcar_emulator/accesstoken/{AccessToken.objects.first().pk}/change/")

    for page in [*pages, token_page]:
        assert page.status_code == 200
        assert access.access_token.encode() not in page.content
        assert access.refresh_token.encode() not in page.content


@override_settings(PRODUCTION=True, SMARTCAR_EMULATOR_ALLOWED_IN_PRODUCTION=False)
def test_system_check_refuses_the_emulator_in_production():
    errors = emulator_not_in_production(None)

    assert [error.id for error in errors] == ["smartcar_emulator.E001"]
    with pytest.raises(SystemCheckError, match=r"smartcar_emulator\.E001"):
        call_command("check", "smartcar_emulator")


@override_settings(PRODUCTION=True, SMARTCAR_EMULATOR_ALLOWED_IN_PRODUCTION=True)
def test_system_check_allows_the_emulator_when_production_opts_in():
    assert emulator_not_in_production(None) == []


def test_a_fault_on_the_vehicle_list_breaks_only_the_list(connected, control):
    token = connected("uma", ["read_vehicle_info"]).access_token
    control("POST", "faults", json={"path": "vehicles", "error_type": "SERVER", "error_code": "INTERNAL", "times": 1})

    with pytest.raises(smartcar.SmartcarException) as excinfo:
        smartcar.get_vehicles(token)

    assert (excinfo.value.status_code, excinfo.value.type) == (500, "SERVER")
    assert smartcar.get_user(token).id
    assert smartcar.get_vehicles(token).vehicles


def test_the_refresh_token_check_tells_which_tokens_would_work_without_using_them(connected, auth_client, control):
    used = connected("pat").refresh_token
    fresh = auth_client.exchange_refresh_token(used).refresh_token

    def check(*tokens: str) -> list[bool]:
        response = control("POST", "refresh-tokens/check", json={"refresh_tokens": list(tokens)})
        assert response.status_code == 200
        return response.json()["valid"]

    # The used token still works inside its grace; checking uses nothing, so the fresh one stays unused.
    assert check(used, fresh, "not-a-token") == [True, True, False]
    control("POST", "clock", json={"advance_seconds": 61})
    assert check(used, fresh, fresh) == [False, True, True]
    assert auth_client.exchange_refresh_token(fresh).access_token


def test_the_refresh_token_check_refuses_anything_but_a_list_of_strings(control):
    for body in ({}, {"refresh_tokens": "abc"}, {"refresh_tokens": [1]}):
        response = control("POST", "refresh-tokens/check", json=body)
        assert response.status_code == 400
        assert "refresh_tokens" in response.json()["error"]
