from __future__ import annotations

import pytest
import requests
import smartcar

from smartcar_emulator.simulation import KM_PER_MILE
from tests.helpers import ALL_SCOPES

pytestmark = pytest.mark.django_db(transaction=True)


def fleet_car(control, username: str, powertrain: str) -> dict:
    return next(
        v for v in control("GET", f"users/{username}/vehicles").json()["vehicles"] if v["powertrain"] == powertrain
    )


@pytest.fixture
def ev_and_ice(connected, control):
    """A connection to big_fleet (every model in the catalog) and one BEV, one ICE and one PHEV from it."""
    token = connected("big_fleet", ALL_SCOPES).access_token
    cars = {kind: fleet_car(control, "big_fleet", kind)["vehicle_id"] for kind in ("BEV", "ICE", "PHEV")}
    return token, cars


def test_every_data_call_returns_parsed_values_for_an_electric_car(ev_and_ice):
    token, cars = ev_and_ice
    ev = smartcar.Vehicle(cars["BEV"], token)

    assert len(ev.vin().vin) == 17
    assert ev.odometer().distance > 0
    location = ev.location()
    assert -90 <= location.latitude <= 90
    assert -180 <= location.longitude <= 180
    battery = ev.battery()
    assert 0 <= battery.percent_remaining <= 1
    assert battery.range > 0
    charge = ev.charge()
    assert charge.is_plugged_in is False
    assert charge.state == "NOT_CHARGING"
    tires = ev.tire_pressure()
    assert 200 < tires.front_left < 300
    lock = ev.lock_status()
    assert lock.is_locked is True
    assert {door["status"] for door in lock.doors} == {"LOCKED"}
    assert lock.charging_port


def test_every_data_call_returns_parsed_values_for_a_fuel_car(ev_and_ice):
    token, cars = ev_and_ice
    ice = smartcar.Vehicle(cars["ICE"], token)

    fuel = ice.fuel()
    assert 0 < fuel.percent_remaining <= 1
    assert fuel.range > 0
    assert fuel.amount_remaining > 0
    assert 0 <= ice.engine_oil().life_remaining <= 1
    assert ice.lock_status().charging_port == []


def test_a_plug_in_hybrid_has_a_battery_and_a_tank(ev_and_ice):
    token, cars = ev_and_ice
    phev = smartcar.Vehicle(cars["PHEV"], token)

    assert phev.battery().range > 0
    assert phev.fuel().range > phev.battery().range


def test_battery_of_a_fuel_car_is_a_compatibility_error(ev_and_ice):
    token, cars = ev_and_ice

    with pytest.raises(smartcar.SmartcarException) as excinfo:
        smartcar.Vehicle(cars["ICE"], token).battery()

    assert (excinfo.value.status_code, excinfo.value.type, excinfo.value.code) == (
        501,
        "COMPATIBILITY",
        "VEHICLE_NOT_CAPABLE",
    )


def test_imperial_units_convert_distance_volume_and_pressure(ev_and_ice):
    token, cars = ev_and_ice
    metric = smartcar.Vehicle(cars["ICE"], token)
    imperial = smartcar.Vehicle(cars["ICE"], token, {"unit_system": "imperial"})

    km, miles = metric.odometer(), imperial.odometer()
    litres, gallons = metric.fuel().amount_remaining, imperial.fuel().amount_remaining
    kpa, psi = metric.tire_pressure().front_left, imperial.tire_pressure().front_left

    assert miles.distance == pytest.approx(km.distance / KM_PER_MILE, rel=1e-3)
    assert gallons == pytest.approx(litres / 3.785, rel=1e-2)
    assert psi == pytest.approx(kpa * 0.145, rel=1e-2)
    assert (km.meta.unit_system, miles.meta.unit_system) == ("metric", "imperial")


def test_data_responses_carry_the_sc_headers(ev_and_ice):
    token, cars = ev_and_ice

    meta = smartcar.Vehicle(cars["BEV"], token).odometer().meta

    assert meta.request_id
    assert meta.data_age.endswith("Z")
    assert meta.fetched_at.endswith("Z")
    assert meta.unit_system == "metric"


def test_values_change_as_time_passes(ev_and_ice, control):
    token, cars = ev_and_ice
    ev = smartcar.Vehicle(cars["BEV"], token)
    before_km, before_charge = ev.odometer().distance, ev.battery().percent_remaining

    control("PUT", "clock", json={"offset_seconds": 5400})

    assert ev.odometer().distance > before_km
    assert ev.battery().percent_remaining < before_charge


def test_lock_and_unlock_change_the_lock_status(ev_and_ice):
    token, cars = ev_and_ice
    car = smartcar.Vehicle(cars["ICE"], token)

    unlocked = car.unlock()
    assert (unlocked.status, unlocked.message) == ("success", "Successfully sent request to vehicle")
    assert car.lock_status().is_locked is False
    car.lock()
    assert car.lock_status().is_locked is True


def test_start_charge_succeeds_as_in_test_mode_but_only_a_plugged_in_car_charges(ev_and_ice, control):
    token, cars = ev_and_ice
    ev = smartcar.Vehicle(cars["BEV"], token)
    # Smartcar's test mode accepts START and STOP whatever the car's state (python-sdk tests/e2e test_start_charge).
    assert ev.start_charge().status == "success"
    assert ev.charge().state == "NOT_CHARGING"
    assert ev.stop_charge().status == "success"

    control("PATCH", f"vehicles/{cars['BEV']}", json={"is_plugged_in": True, "state_of_charge": 0.5})
    assert ev.start_charge().status == "success"
    assert ev.charge().state == "CHARGING"
    control("PUT", "clock", json={"offset_seconds": 3600})
    assert ev.battery().percent_remaining > 0.55
    assert ev.stop_charge().status == "success"
    assert ev.charge().state == "NOT_CHARGING"


def test_a_missing_permission_is_a_permission_error(connected):
    token = connected("ivan", ["read_vehicle_info"]).access_token
    vehicle = smartcar.Vehicle(smartcar.get_vehicles(token).vehicles[0], token)

    with pytest.raises(smartcar.SmartcarException) as excinfo:
        vehicle.odometer()

    assert (excinfo.value.status_code, excinfo.value.type) == (403, "PERMISSION")
    assert excinfo.value.resolution["type"] == "REAUTHENTICATE"
    with pytest.raises(smartcar.SmartcarException) as excinfo:
        vehicle.lock()
    assert excinfo.value.type == "PERMISSION"


def test_a_vehicle_outside_the_grant_is_an_authentication_error(connected):
    alice = connected("alice", ["read_vehicle_info"]).access_token
    bob = connected("bob", ["read_vehicle_info"]).access_token
    bobs_car = smartcar.get_vehicles(bob).vehicles[0]

    with pytest.raises(smartcar.SmartcarException) as excinfo:
        smartcar.Vehicle(bobs_car, alice).attributes()

    assert (excinfo.value.status_code, excinfo.value.type) == (401, "AUTHENTICATION")


def test_an_unknown_token_is_an_authentication_error(emulator_url):
    with pytest.raises(smartcar.SmartcarException) as excinfo:
        smartcar.get_vehicles("made-up")

    assert excinfo.value.status_code == 401
    assert excinfo.value.request_id


def test_a_malformed_vehicle_id_is_a_validation_error(connected):
    token = connected("jane", ["read_vehicle_info"]).access_token

    with pytest.raises(smartcar.SmartcarException) as excinfo:
        smartcar.Vehicle("not-a-uuid", token).attributes()

    assert (excinfo.value.status_code, excinfo.value.type) == (400, "VALIDATION")


def test_an_unknown_path_and_version_are_resource_not_found(connected):
    token = connected("kim", ["read_vehicle_info"]).access_token
    vehicle_id = smartcar.get_vehicles(token).vehicles[0]

    with pytest.raises(smartcar.SmartcarException) as path_error:
        smartcar.Vehicle(vehicle_id, token).request("GET", "teleport", headers={})
    with pytest.raises(smartcar.SmartcarException) as version_error:
        smartcar.Vehicle(vehicle_id, token, {"version": "9.0"}).attributes()

    assert (path_error.value.status_code, path_error.value.type, path_error.value.code) == (
        404,
        "RESOURCE_NOT_FOUND",
        "PATH",
    )
    assert version_error.value.code == "VERSION"


def test_a_sleeping_car_answers_vehicle_state_asleep(connected):
    token = connected("sleepy", ALL_SCOPES).access_token
    vehicle = smartcar.Vehicle(smartcar.get_vehicles(token).vehicles[0], token)

    assert vehicle.attributes().make
    with pytest.raises(smartcar.SmartcarException) as excinfo:
        vehicle.odometer()

    assert (excinfo.value.status_code, excinfo.value.type, excinfo.value.code) == (409, "VEHICLE_STATE", "ASLEEP")


def test_errors_are_json_with_every_field(connected, emulator_url):
    token = connected("lena", ["read_vehicle_info"]).access_token
    vehicle_id = smartcar.get_vehicles(token).vehicles[0]

    response = requests.get(
        f"{emulator_url}/api/v2.0/vehicles/{vehicle_id}/odometer",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )

    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["SC-Request-Id"] == response.json()["requestId"]
    assert set(response.json()) >= {
        "type",
        "code",
        "description",
        "docURL",
        "statusCode",
        "requestId",
        "resolution",
    }


def test_batch_returns_each_path_and_raises_for_the_failing_one(ev_and_ice):
    token, cars = ev_and_ice
    car = smartcar.Vehicle(cars["ICE"], token)

    batch = car.batch(["/odometer", "/fuel", "/battery", "/tires/pressure", "/"])

    assert batch.odometer().distance > 0
    assert batch.fuel().range > 0
    assert batch.tire_pressure().back_right > 0
    assert batch.attributes().make
    assert batch.odometer().meta.unit_system == "metric"
    assert batch.odometer().meta.request_id == batch.meta.request_id
    with pytest.raises(smartcar.SmartcarException) as excinfo:
        batch.battery()
    assert excinfo.value.type == "COMPATIBILITY"


def test_batch_reports_a_missing_permission_per_path(connected):
    token = connected("mona", ["read_vehicle_info", "read_odometer"]).access_token
    car = smartcar.Vehicle(smartcar.get_vehicles(token).vehicles[0], token)

    batch = car.batch(["/odometer", "/location"])

    assert batch.odometer().distance > 0
    with pytest.raises(smartcar.SmartcarException) as excinfo:
        batch.location()
    assert (excinfo.value.status_code, excinfo.value.type) == (403, "PERMISSION")


def test_batch_with_an_unknown_path_fails_that_path_only(ev_and_ice):
    token, cars = ev_and_ice

    batch = smartcar.Vehicle(cars["BEV"], token).batch(["/odometer", "/teleport"])

    assert batch.odometer().distance > 0
    with pytest.raises(smartcar.SmartcarException) as excinfo:
        batch.teleport()
    assert excinfo.value.code == "PATH"
